"""Answering queries: ``@service.responds(QueryType)`` and the subscription that runs it.

Every replica of the answering service joins ``$share/<service>/queries/…/v<n>``, so one
replica answers each query. Queries reach it at QoS 0 (they are published at QoS 1, so
the requester still hears 0x10 when nobody subscribes): a query is not a fact, it must
not wait behind the replica's backlog of unacknowledged events, the broker keeps none for
a replica that is gone, and one lost with its replica ends in the requester's timeout
rather than in a late answer. The reply goes out at QoS 1 on the
query's Response Topic with its Correlation Data (:mod:`bus.requests.wire`). An answer
that raises becomes an error reply, never a retry or a dead letter; nothing is
deduplicated, so a query sent twice is answered twice: answers must only read.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import StatusCode

from bus._internal.infra import cancel
from bus._internal.mqtt import (
    MQTT_ERRORS,
    QOS0,
    Client,
    Message,
    SubscribeRefusedError,
    Subscription,
    publish_v5,
)
from bus.constants import REPLIES_TOPIC
from bus.requests import spans, wire
from bus.requests.errors import RequestFailedError
from contracts.query import Query, Reply

if TYPE_CHECKING:
    from bus.settings import BusSettings

log = logging.getLogger("bus.requests")

AnswerFunc = Callable[[Any], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Answer:
    """An async function that answers one query type with its reply type."""

    query_type: type[Query[Any]]
    func: AnswerFunc

    @classmethod
    def build(cls, func: AnswerFunc, query_type: type[Query[Any]]) -> Answer:
        if not inspect.iscoroutinefunction(func):
            raise TypeError(f"answer {func.__qualname__} must be an async function")
        return cls(query_type, func)

    @property
    def topic(self) -> str:
        return self.query_type.query.topic

    async def respond(self, payload: bytes) -> tuple[bytes, str]:
        """The reply message (payload, content type) to a query's payload. Never raises:
        a query that does not fit its contract, an answer that raises or returns
        something else than the reply type, each becomes an error reply."""
        name = self.query_type.query.type
        try:
            query = wire.decode_query(self.query_type, payload)
        except RequestFailedError as exc:
            log.warning("refused an invalid %s: %s", name, exc.detail)
            return wire.encode_error(exc.code, exc.detail)
        try:
            reply = await self.func(query)
        except Exception as exc:  # the requester gets it; the responder goes on
            log.warning("answering %s failed: %s: %s", name, type(exc).__name__, exc)
            return wire.encode_error(wire.FAILED, f"{type(exc).__name__}: {exc}")
        expected = self.query_type.reply_type
        if not isinstance(reply, expected):
            detail = f"the answer returned {type(reply).__name__}, not {expected.__name__}"
            log.error("answering %s: %s", name, detail)
            return wire.encode_error(wire.INVALID_REPLY, detail)
        return wire.encode_reply(reply)


class Responder:
    """Runs a replica's answers on its connection, from :meth:`start` to :meth:`stop`.

    Args:
        service: The service's name: its shared-subscription group.
        answers: What it answers.
        settings: The namespace topics travel in.
        client: The replica's connected client.
        concurrency: Queries answered at once (each in a task of its own).
    """

    def __init__(
        self,
        service: str,
        answers: Sequence[Answer],
        settings: BusSettings,
        client: Client,
        *,
        concurrency: int = 16,
    ) -> None:
        self.service = service
        self.answers = answers
        self.settings = settings
        self.client = client
        self._slots = asyncio.Semaphore(concurrency)
        self._subscriptions: list[Subscription] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._replies = settings.wire_topic(REPLIES_TOPIC.format(client_id=""))

    async def start(self) -> None:
        """Subscribe to each query through the service's shared group.

        A query the broker's rules do not let it answer is logged as an error and left
        out (its requesters get :class:`~bus.requests.NoResponderError`): the service's
        events must not stop for it. ``bus credentials apply`` (``make up``) derives
        the rules from ``@service.responds``.
        """
        for answer in self.answers:
            topic = f"$share/{self.service}/{self.settings.wire_topic(answer.topic)}"
            # QoS 0 to us, as replies to requesters: a query must not wait behind the
            # replica's backlog of events, and one for a replica that is gone is not kept.
            subscription = self.client.subscribe(topic, qos=QOS0)
            try:
                await subscription.start()
            except SubscribeRefusedError:
                log.error("%s cannot answer %s: the broker refused %s (are its rules "
                          "applied? bus credentials apply)", self.service,
                          answer.query_type.query.type, topic)  # fmt: skip
                continue
            self._subscriptions.append(subscription)
            task = asyncio.create_task(self._take(answer, subscription), name=f"answer:{topic}")
            self._tasks.append(task)
        if self._subscriptions:
            log.info("%s answers %s", self.service,
                     ", ".join(a.query_type.query.type for a in self.answers))  # fmt: skip

    async def stop(self) -> None:
        """Stop answering and unsubscribe, so that a requester is told at once that no
        responder is left (the answers in flight are cancelled: they time out)."""
        for task in [*self._tasks, *self._inflight]:
            await cancel(task)
        self._tasks, self._inflight = [], set()
        for subscription in self._subscriptions:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await subscription.stop()  # logs its own failures, never raises
        self._subscriptions = []

    async def _take(self, answer: Answer, subscription: Subscription) -> None:
        while True:
            try:
                message = await subscription.get_message()
            except MQTT_ERRORS as exc:  # the client gave up for good
                log.error("stopped answering %s: %r", answer.query_type.query.type, exc)
                return
            await self._slots.acquire()
            task = asyncio.create_task(self._answer(answer, message))
            self._inflight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._slots.release()

    async def _answer(self, answer: Answer, message: Message) -> None:
        properties = message.properties
        name = answer.query_type.query.type
        reply_to = properties.response_topic if properties is not None else None
        if properties is None or not self._may_reply_to(reply_to):
            log.warning("ignored a %s with no reply topic of the bus (Response Topic %r)",
                        name, reply_to)  # fmt: skip
            return
        assert reply_to is not None
        with spans.answering(self.service, name, properties.user_properties) as span:
            payload, content_type = await answer.respond(message.payload)
            if content_type == wire.ERROR_CONTENT_TYPE:
                span.set_status(StatusCode.ERROR, payload.decode(errors="replace"))
            try:
                delivered = await publish_v5(
                    self.client, reply_to, payload, content_type=content_type,
                    correlation=properties.correlation_data,
                    expiry=properties.message_expiry_interval,
                )  # fmt: skip
            except MQTT_ERRORS as exc:
                log.warning("could not reply to %s on %s: %r", name, reply_to, exc)
                return
        if not delivered:
            log.debug("the requester of %s is gone (%s)", name, reply_to)

    def _may_reply_to(self, topic: str | None) -> bool:
        # A requester chooses the topic: never publish a reply outside the reply space
        # (a forged Response Topic would otherwise make the responder publish "events").
        if not topic or not topic.startswith(self._replies):
            return False
        rest = topic[len(self._replies) :]
        return bool(rest) and not any(c in rest for c in "/+#")
