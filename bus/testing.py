"""Testing handler logic without a broker, on FastStream's in-memory MQTT broker.

Use it for fast unit tests; prove features against the real stack as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

from bus import tracing
from bus._internal.broker import Received, in_memory_broker, send, send_bytes, subscribe
from bus.constants import DOMAIN_EVENTS_FILTER
from bus.deadletters import MemoryDeadLetters
from bus.envelope import Envelope, EnvelopeError
from bus.runtime import Replica
from bus.service import Service
from contracts import Event

IN_MEMORY_CONCURRENCY = 1000
"""Deliveries in flight per subscription on the in-memory broker (see :func:`in_memory`)."""


@dataclass
class InMemoryBus:
    """A started service on the in-memory broker, and every event it published."""

    service: Service
    published: list[Envelope] = field(default_factory=list)
    dead_letters: MemoryDeadLetters = field(default_factory=MemoryDeadLetters)

    async def publish(
        self,
        event: Event,
        *,
        id: str | None = None,
        cause: Envelope | None = None,
    ) -> Envelope:
        """Deliver an event to the service's handlers, as another service would."""
        with tracing.publishing(
            None, event, event.contract.topic, source="/test/1", cause=cause, id=id
        ) as envelope:
            await self.publish_envelope(envelope)
        return envelope

    async def publish_envelope(self, envelope: Envelope, topic: str | None = None) -> None:
        """Deliver an envelope as it is, on its type's topic or on ``topic``."""
        broker = self.service.replica.broker
        assert broker is not None
        where = topic or envelope.type.replace(".", "/")
        await send(broker, envelope, self.service.settings.wire_topic(where))
        await self.service.replica.inbox.settled()

    async def publish_raw(self, payload: bytes, topic: str) -> None:
        """Deliver arbitrary bytes, such as a malformed payload."""
        broker = self.service.replica.broker
        assert broker is not None
        await send_bytes(broker, payload, self.service.settings.wire_topic(topic))
        await self.service.replica.inbox.settled()

    def of_type(self, event_type: type[Event]) -> list[Envelope]:
        return [e for e in self.published if e.type == event_type.contract.type]


@asynccontextmanager
async def in_memory(service: Service, *, run_hooks: bool = False) -> AsyncIterator[InMemoryBus]:
    """Run ``service`` on FastStream's in-memory broker for the duration of the block.

    No store is opened: dead letters are kept in ``bus.dead_letters`` and there
    is no dedup. Startup and shutdown hooks run only with ``run_hooks=True``.
    """
    bus = InMemoryBus(service)
    replica = Replica(service)
    # The in-memory broker delivers while the publisher waits: a handler that publishes to
    # a subscription of its own service needs a free place there, or both would wait.
    replica.inbox.concurrency = IN_MEMORY_CONCURRENCY
    broker = replica.build_broker()
    replica.build_pipeline(bus.dead_letters, dedup=False, announce=False)

    async def spy(message: Received) -> None:
        with suppress(EnvelopeError):
            envelope = Envelope.from_message(message.wire)
            if envelope.source == service.source:
                bus.published.append(envelope)

    subscribe(broker, service.settings.wire_topic(DOMAIN_EVENTS_FILTER), spy, shared=None)
    if run_hooks:
        for hook in service.startup_hooks:
            await hook()
    async with in_memory_broker(broker):
        replica.running = True
        assert replica.outbox is not None
        replica.outbox.opened = True
        service._replica = replica  # the seam: a replica started without stores
        try:
            yield bus
        finally:
            service._replica = None
    if run_hooks:
        for hook in reversed(service.shutdown_hooks):
            await hook()
