"""Asking: ``await service.request(query, timeout=2.0)`` and the reply subscription behind it.

Each connection that asks holds one subscription (QoS 0, see below) on its private reply topic,
``chorus/replies/<client id>``, taken at the first request and kept until :meth:`stop`.
Each request gets a fresh random Correlation Data, and a future keyed by it that the
reply completes. See :mod:`bus.requests.wire` for what travels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING, TypeVar

from bus._internal.infra import cancel
from bus._internal.mqtt import (
    MQTT_ERRORS,
    QOS0,
    Client,
    Message,
    PublishRefusedError,
    SubscribeRefusedError,
    Subscription,
    publish_v5,
)
from bus.constants import REPLIES_TOPIC
from bus.requests import spans, wire
from bus.requests.errors import (
    NoResponderError,
    RequestError,
    RequestNotAllowedError,
    RequestTimeoutError,
)
from contracts.query import Query, Reply

if TYPE_CHECKING:
    from bus.settings import BusSettings

log = logging.getLogger("bus.requests")

R = TypeVar("R", bound=Reply)

NOT_AUTHORIZED = 0x87


class Requester:
    """Sends queries on one connection and matches the replies to them.

    Args:
        settings: The namespace topics travel in.
        client_id: The connection's client id: its reply topic is named after it.
        service: Who asks, for the spans; None outside a service.
    """

    def __init__(self, settings: BusSettings, client_id: str, service: str | None = None) -> None:
        if not client_id or any(c in client_id for c in "/+#"):
            raise ValueError(f"a requester needs a plain client id, got {client_id!r}")
        self.settings = settings
        self.service = service
        self.reply_topic = settings.wire_topic(REPLIES_TOPIC.format(client_id=client_id))
        self._client: Client | None = None
        self._subscription: Subscription | None = None
        self._listener: asyncio.Task[None] | None = None
        self._waiting: dict[bytes, asyncio.Future[Message]] = {}
        self._lock = asyncio.Lock()

    async def request(
        self,
        client: Client,
        query: Query[R],
        *,
        timeout: float = 2.0,  # noqa: ASYNC109 - it travels: the query's expiry on the broker
    ) -> R:
        """Ask ``query`` on ``client`` and return its typed reply.

        Raises:
            NoResponderError: the broker matched no subscription (nobody answers it).
            RequestTimeoutError: no reply within ``timeout`` seconds.
            RequestFailedError: the responder answered with an error.
            RequestNotAllowedError: the broker refused the query or the reply topic.
        """
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        query_type = type(query)
        name, topic = query_type.query.type, self.settings.wire_topic(query_type.query.topic)
        await self._listen(client, name)
        correlation = uuid.uuid4().hex.encode()
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = future
        with spans.requesting(self.service, name, topic) as carried:
            try:
                async with asyncio.timeout(timeout):
                    try:
                        delivered = await publish_v5(
                            client, topic, wire.encode_query(query),
                            content_type=wire.REPLY_CONTENT_TYPE, response_topic=self.reply_topic,
                            correlation=correlation, expiry=wire.expiry(timeout),
                            user_properties=carried,
                        )  # fmt: skip
                    except PublishRefusedError as exc:
                        if exc.reason_code == NOT_AUTHORIZED:
                            raise RequestNotAllowedError(
                                name, f"the broker does not let this identity send {name} ({topic})"
                            ) from None
                        raise RequestError(name, f"the broker refused {name}: {exc}") from None
                    except MQTT_ERRORS as exc:
                        raise RequestError(name, f"cannot send {name}: {exc!r}") from None
                    if not delivered:
                        raise NoResponderError(name, topic)
                    message = await future
            except TimeoutError:
                raise RequestTimeoutError(name, timeout) from None
            finally:
                self._waiting.pop(correlation, None)
            properties = message.properties
            content_type = properties.content_type if properties is not None else None
            reply = wire.decode_reply(query_type, message.payload, content_type)
        assert isinstance(reply, query_type.reply_type)
        return reply  # type: ignore[return-value]  # R is query_type's reply_type

    async def stop(self) -> None:
        """Unsubscribe from the reply topic; requests still waiting time out."""
        await cancel(self._listener)
        self._listener = None
        if self._subscription is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await self._subscription.stop()
        self._subscription = self._client = None

    async def _listen(self, client: Client, name: str) -> None:
        async with self._lock:
            if self._client is client and self._listener is not None:
                return
            await self.stop()  # a new connection (the replica restarted): subscribe on it
            # QoS 0 to us (the responder publishes at QoS 1): a reply must not wait behind
            # the replica's backlog of unacknowledged events in the broker's in-flight window.
            subscription = client.subscribe(self.reply_topic, qos=QOS0)
            try:
                await subscription.start()
            except SubscribeRefusedError:
                raise RequestNotAllowedError(
                    name, f"the broker does not let this identity read {self.reply_topic}"
                ) from None
            except MQTT_ERRORS as exc:
                raise RequestError(
                    name, f"cannot read replies on {self.reply_topic}: {exc!r}"
                ) from None
            self._client, self._subscription = client, subscription
            self._listener = asyncio.create_task(self._receive(subscription), name="replies")

    async def _receive(self, subscription: Subscription) -> None:
        while True:
            try:
                message = await subscription.get_message()
            except MQTT_ERRORS as exc:  # the client gave up for good
                log.error("stopped reading replies on %s: %r", self.reply_topic, exc)
                return
            properties = message.properties
            correlation = properties.correlation_data if properties is not None else None
            future = self._waiting.get(correlation or b"")
            if future is None or future.done():
                log.debug("a reply nobody waits for (late, or not ours) on %s", self.reply_topic)
                continue
            future.set_result(message)


async def ask(
    client: Client,
    settings: BusSettings,
    client_id: str,
    query: Query[R],
    *,
    timeout: float = 2.0,  # noqa: ASYNC109 - as in Requester.request
) -> R:
    """One request on a connection of its own (``bus request``, scripts): subscribe,
    ask, unsubscribe."""
    requester = Requester(settings, client_id)
    try:
        return await requester.request(client, query, timeout=timeout)
    finally:
        await requester.stop()
