"""A replica's subscriptions, and the path of one message from the socket to its ack.

For each handled event type the replica holds one QoS 1 subscription, shared by the
service's replicas (``$share/<service>/<topic>``) unless the service takes every copy
(the journal); plus its private replay topic. A message's path, top to bottom::

    zmqtt reads the PUBLISH → FastStream calls Inbox._receive (or _replay)
      → Pipeline.deliver: read the envelope, claim, handle with retries,
        record or dead-letter (bus.runtime.pipeline)
      → acknowledge: PUBACK, only now that the outcome is final, and in arrival order
        (bus.runtime.flow: up to ``concurrency`` deliveries of a subscription in flight)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bus._internal.broker import Received, acknowledge, detach, subscribe
from bus.constants import REPLAY_TOPIC, is_system_topic
from bus.deadletters import ReplayRequest
from bus.errors import PoisonMessageError
from bus.handler import Handler
from bus.runtime.flow import Flow
from bus.runtime.pipeline import Decoded, Delivery, Outcome, Via

if TYPE_CHECKING:
    from bus._internal.broker import Broker, Subscriber
    from bus.settings import BusSettings

log = logging.getLogger("bus.inbox")

Deliver = Callable[[Delivery], Awaitable[Outcome]]


class Inbox:
    """Subscribes one replica's handlers and takes each message to its ack.

    Args:
        service: The service's name: its shared-subscription group and replay topic.
        handlers: What it handles.
        deliver: The replica's pipeline.
        settings: The namespace topics travel in.
        shared: Replicas split the stream; ``False``: each takes every copy.
        concurrency: Deliveries in flight per subscription, for handlers that set none.
    """

    def __init__(
        self,
        service: str,
        handlers: Sequence[Handler],
        deliver: Deliver,
        settings: BusSettings,
        *,
        shared: bool = True,
        concurrency: int = 1,
    ) -> None:
        self.service = service
        self.handlers = handlers
        self.deliver = deliver
        self.settings = settings
        self.shared = shared
        self.concurrency = concurrency
        self._subscribers: list[Subscriber] = []
        self._flows: list[Flow[Received]] = []
        self.filters: list[str] = []
        """The topic filters :meth:`subscribe` declared, as the broker knows them."""

    def subscribe(self, broker: Broker) -> None:
        """Declare the subscriptions on ``broker`` (before it starts)."""
        group = self.service if self.shared else None
        for handler in self.handlers:
            flow = self._flow(handler.concurrency or self.concurrency)
            receive = self._receiver(handler, flow)
            topic = self.settings.wire_topic(handler.topic)
            self._subscribers.append(subscribe(broker, topic, receive, shared=group))
            self.filters.append(_filter(topic, group))
        replays = self.settings.wire_topic(REPLAY_TOPIC.format(service=self.service))
        flow = self._flow(1)  # replays one at a time

        async def replay(message: Received) -> None:
            await self._replay(message, flow)

        self._subscribers.append(subscribe(broker, replays, replay, shared=group))
        self.filters.append(_filter(replays, group))

    async def detach(self) -> None:
        """Stop taking messages, keeping the subscriptions in the broker session; what is
        in flight is cancelled unacknowledged (the broker sends it again)."""
        await detach(self._subscribers)
        for flow in self._flows:
            await flow.stop()
        self._subscribers, self._flows = [], []

    def _flow(self, limit: int) -> Flow[Received]:
        flow: Flow[Received] = Flow(limit, acknowledge)
        self._flows.append(flow)
        return flow

    async def settled(self) -> None:
        """Wait until no delivery is in flight (tests on the in-memory broker)."""
        while any(flow.busy for flow in self._flows):
            for flow in self._flows:
                await flow.settled()

    def _receiver(
        self, handler: Handler, flow: Flow[Received]
    ) -> Callable[[Received], Awaitable[None]]:
        async def receive(message: Received) -> None:
            await self._receive(handler, flow, message)

        receive.__name__ = handler.func.__name__
        return receive

    async def _receive(self, handler: Handler, flow: Flow[Received], message: Received) -> None:
        topic = self.settings.local_topic(message.topic)
        if is_system_topic(topic):  # a handler of every event sees the bus's own too
            await flow.admit(message, _nothing)
            return
        wire = message.wire
        delivery = Delivery(
            handler, topic, wire.payload, content_type=wire.content_type,
            properties=wire.properties,
        )  # fmt: skip
        key = None
        if handler.key is not None:
            try:  # read once here for the key; the pipeline takes it as read
                decoded = Decoded.read(handler, wire)
            except PoisonMessageError:
                pass  # no key: the pipeline dead-letters it
            else:
                delivery = replace(delivery, decoded=decoded)
                key = handler.key(decoded.argument)
        await flow.admit(message, lambda: self.deliver(delivery), key)

    async def _replay(self, message: Received, flow: Flow[Received]) -> None:
        delivery = self._replayed(message.payload)
        if delivery is None:
            await flow.admit(message, _nothing)
            return
        log.info("%s: replaying dead letter %s", self.service, delivery.replay_of)
        await flow.admit(message, lambda: self.deliver(delivery))

    def _replayed(self, body: bytes) -> Delivery | None:
        try:
            request = ReplayRequest.model_validate_json(body)
        except ValidationError as exc:
            log.error("%s: ignored a malformed replay request: %s", self.service, exc)
            return None
        handler = next((h for h in self.handlers if h.accepts(request.topic)), None)
        if handler is None:
            log.error("%s: no handler for replayed topic %s", self.service, request.topic)
            return None
        properties = None if request.properties is None else tuple(request.properties)
        return Delivery(
            handler, request.topic, request.payload.encode(), via=Via.REPLAY,
            replay_of=request.deadletter_id, content_type=request.content_type,
            properties=properties,
        )  # fmt: skip


def _filter(topic: str, group: str | None) -> str:
    return f"$share/{group}/{topic}" if group else topic


async def _nothing() -> None:
    return None
