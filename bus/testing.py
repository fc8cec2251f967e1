"""Testing handler logic without a broker, on FastStream's in-memory MQTT broker.

Use it for fast unit tests; prove features against the real stack as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import zmqtt
from faststream.mqtt import TestMQTTBroker
from faststream.mqtt.annotations import MQTTMessage

from bus import tracing
from bus._internal.broker import send
from bus.constants import DOMAIN_EVENTS_FILTER
from bus.deadletters import MemoryDeadLetters
from bus.envelope import Envelope, EnvelopeError
from bus.pipeline import Pipeline
from bus.service import Service
from contracts import Event


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
        broker = self.service._broker
        assert broker is not None
        where = topic or envelope.type.replace(".", "/")
        await send(broker, envelope, self.service.settings.wire_topic(where))

    async def publish_raw(self, payload: bytes, topic: str) -> None:
        """Deliver arbitrary bytes, such as a malformed payload."""
        broker = self.service._broker
        assert broker is not None
        wire = self.service.settings.wire_topic(topic)
        await broker.publish(payload, wire, qos=zmqtt.QoS.AT_LEAST_ONCE)

    def of_type(self, event_type: type[Event]) -> list[Envelope]:
        return [e for e in self.published if e.type == event_type.contract.type]


@asynccontextmanager
async def in_memory(service: Service, *, run_hooks: bool = False) -> AsyncIterator[InMemoryBus]:
    """Run ``service`` on FastStream's in-memory broker for the duration of the block.

    No store is opened: dead letters are kept in ``bus.dead_letters`` and there
    is no dedup. Startup and shutdown hooks run only with ``run_hooks=True``.
    """
    bus = InMemoryBus(service)
    service.pipeline = Pipeline(
        service=service.name,
        owner=service.client_id,
        retry=service.retry,
        dead_letters=bus.dead_letters,
    )
    broker = service.build_broker()

    @broker.subscriber(service.settings.wire_topic(DOMAIN_EVENTS_FILTER))
    async def spy(message: MQTTMessage) -> None:
        with suppress(EnvelopeError):
            envelope = Envelope.from_bytes(message.body)
            if envelope.source == service.source:
                bus.published.append(envelope)

    if run_hooks:
        for hook in service._startup:
            await hook()
    async with TestMQTTBroker(broker) as test_broker:
        service._broker = test_broker
        try:
            yield bus
        finally:
            service._broker = None
    if run_hooks:
        for hook in reversed(service._shutdown):
            await hook()
