"""A replica's subscriptions, and the path of one message from the socket to its ack.

For each handled event type the replica holds one QoS 1 subscription, shared by the
service's replicas (``$share/<service>/<topic>``) unless the service takes every copy
(the journal); plus its private replay topic. A message's path, top to bottom::

    zmqtt reads the PUBLISH → FastStream calls Inbox._receive (or _replay)
      → Pipeline.deliver: read the envelope, claim, handle with retries,
        record or dead-letter (bus.runtime.pipeline)
      → _ack: PUBACK, only now that the outcome is final
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bus._internal.broker import Received, acknowledge, detach, subscribe
from bus.constants import REPLAY_TOPIC, is_system_topic
from bus.deadletters import ReplayRequest
from bus.handler import Handler
from bus.runtime.pipeline import Delivery, Outcome, Via

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
    """

    def __init__(
        self,
        service: str,
        handlers: Sequence[Handler],
        deliver: Deliver,
        settings: BusSettings,
        *,
        shared: bool = True,
    ) -> None:
        self.service = service
        self.handlers = handlers
        self.deliver = deliver
        self.settings = settings
        self.shared = shared
        self._subscribers: list[Subscriber] = []

    def subscribe(self, broker: Broker) -> None:
        """Declare the subscriptions on ``broker`` (before it starts)."""
        group = self.service if self.shared else None
        for handler in self.handlers:
            receive = self._receiver(handler)
            topic = self.settings.wire_topic(handler.topic)
            self._subscribers.append(subscribe(broker, topic, receive, shared=group))
        replays = self.settings.wire_topic(REPLAY_TOPIC.format(service=self.service))
        self._subscribers.append(subscribe(broker, replays, self._replay, shared=group))

    async def detach(self) -> None:
        """Stop taking messages, keeping the subscriptions in the broker session."""
        await detach(self._subscribers)
        self._subscribers = []

    def _receiver(self, handler: Handler) -> Callable[[Received], Awaitable[None]]:
        async def receive(message: Received) -> None:
            await self._receive(handler, message)

        receive.__name__ = handler.func.__name__
        return receive

    async def _receive(self, handler: Handler, message: Received) -> None:
        topic = self.settings.local_topic(message.topic)
        if not is_system_topic(topic):  # a handler of every event sees the bus's own too
            await self.deliver(Delivery(handler, topic, message.payload))
        await acknowledge(message)

    async def _replay(self, message: Received) -> None:
        delivery = self._replayed(message.payload)
        if delivery is not None:
            log.info("%s: replaying dead letter %s", self.service, delivery.replay_of)
            await self.deliver(delivery)
        await acknowledge(message)

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
        return Delivery(
            handler, request.topic, request.payload.encode(), via=Via.REPLAY,
            replay_of=request.deadletter_id,
        )  # fmt: skip
