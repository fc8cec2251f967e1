"""The MQTT client's names the rest of the bus uses, so that zmqtt and FastStream are
touched only inside ``bus/_internal/``: an upgrade of either changes this folder."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import zmqtt
from faststream.exceptions import IncorrectState
from zmqtt._internal.packets.publish import Publish

from bus._internal.broker import make_broker
from bus._internal.infra import cancel

if TYPE_CHECKING:
    from bus.security.credentials import Credential
    from bus.settings import BusSettings

_log = logging.getLogger("bus.mqtt")

Client = zmqtt.MQTTClient
"""A connected MQTT 5 client."""

Subscription = zmqtt.Subscription
"""A subscription of a :data:`Client` (``get_message()``, async iteration)."""

Message = zmqtt.Message
"""One received message (``topic``, ``payload``)."""

Will = zmqtt.Will

QOS1 = zmqtt.QoS.AT_LEAST_ONCE

MQTT_ERRORS: tuple[type[BaseException], ...] = (
    zmqtt.MQTTError, OSError, TimeoutError, IncorrectState,
)  # fmt: skip
"""What a publish, subscribe or connect raises when the broker cannot be reached
(``IncorrectState``: FastStream's broker has no connection at the moment)."""


def will(topic: str, payload: bytes = b"", *, retain: bool = True) -> Will:
    """A QoS 1 last will on ``topic``."""
    return zmqtt.Will(topic=topic, payload=payload, qos=QOS1, retain=retain)


async def publish_retained(
    client: Client,
    topic: str,
    payload: bytes,
    *,
    content_type: str = "application/json",
    expiry: int | None = None,
) -> None:
    """Publish a retained QoS 1 message (empty: delete the retained one) and wait for
    the PUBACK; ``expiry`` in seconds (MQTT 5 message expiry)."""
    properties = zmqtt.PublishProperties(content_type=content_type, message_expiry_interval=expiry)
    await client.publish(topic, payload, qos=QOS1, retain=True, properties=properties)


async def read_retained(client: Client, topic: str, *, within: float = 10.0) -> bytes:
    """The message retained on ``topic`` as it is; empty if there is none.

    The end of the retained message is marked by a probe the reader publishes on
    ``<topic>/read-<random>`` after subscribing: the broker sends the retained message
    (if any) before the probe, so an absent message costs one round trip, not a wait.
    A subscriber of ``+/+/+`` gets the probe too (``bus tail`` and the console skip the
    ``chorus/`` root).
    """
    probe = f"{topic}/read-{uuid.uuid4().hex}"
    payload = b""
    # QoS 0 on purpose: a replica that resumes its session with a backlog has the broker's
    # whole in-flight window (max_inflight_messages) taken by queued events it has not
    # acknowledged yet, and a QoS 1 retained message would wait behind them.
    async with (
        asyncio.timeout(within),
        client.subscribe(topic, probe, qos=zmqtt.QoS.AT_MOST_ONCE) as subscription,
    ):
        await client.publish(probe, b"", qos=QOS1)
        while (message := await subscription.get_message()).topic != probe:
            if message.topic == topic:
                payload = message.payload
    return payload


@asynccontextmanager
async def connected_client(
    settings: BusSettings,
    *,
    within: float = 10.0,
    client_id: str = "",
    identity: str | None = None,
    credential: Credential | None = None,
) -> AsyncIterator[Client]:
    """A short-lived clean-session connection for commands and readers; closed after
    the block. A broker that does not answer ``within`` seconds raises TimeoutError.
    It logs in as :func:`~bus._internal.broker.make_broker` says."""
    broker = make_broker(
        settings, client_id=client_id, reconnect=False, identity=identity, credential=credential
    )
    try:
        async with asyncio.timeout(within):
            client = await broker.connect()
        yield client
    finally:
        await broker.stop()


class Follower:
    """Hands each message on one topic to ``receive``, in a task of its own, until
    :meth:`stop` (a plain QoS 1 subscription: the broker sends the retained message
    again after each reconnection). Never raises.

    Args:
        client: The replica's connected client.
        topic: What to follow.
        receive: Takes each payload; an exception there is logged and the next
            message still comes.
    """

    STOP_TIMEOUT = 5.0
    """Seconds :meth:`stop` waits for the broker to confirm the unsubscription."""

    def __init__(self, client: Client, topic: str, receive: Callable[[bytes], object]) -> None:
        self.client = client
        self.topic = topic
        self.receive = receive
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> bool:
        """Subscribe; False (logged) if the broker did not take the subscription."""
        subscription = self.client.subscribe(self.topic, qos=QOS1)
        try:
            await subscription.start()
        except MQTT_ERRORS as exc:
            _log.error("cannot follow %s (%r)", self.topic, exc)
            return False
        self._subscription = subscription
        self._task = asyncio.create_task(self._follow(subscription), name=f"follow:{self.topic}")
        return True

    async def stop(self) -> None:
        """Stop following and unsubscribe (before the connection closes)."""
        await cancel(self._task)
        self._task = None
        if self._subscription is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.STOP_TIMEOUT):
                    await self._subscription.stop()  # logs its own failures, never raises
            self._subscription = None

    async def _follow(self, subscription: Subscription) -> None:
        while True:
            try:
                message = await subscription.get_message()
            except MQTT_ERRORS as exc:  # the client gave up for good
                _log.error("stopped following %s: %r", self.topic, exc)
                return
            try:
                self.receive(message.payload)
            except Exception:  # a bug there must not stop the following messages
                _log.exception("failed to apply a message on %s", self.topic)


# -- request/reply (bus.requests) ---------------------------------------------------

PublishRefusedError = zmqtt.MQTTPublishError
"""The broker refused a QoS 1 publish: ``reason_code`` (0x87: not authorized)."""

SubscribeRefusedError = zmqtt.MQTTSubscribeError
"""The broker refused a subscription (``failures``: filter -> reason code)."""

QOS0 = zmqtt.QoS.AT_MOST_ONCE

NO_MATCHING_SUBSCRIBERS = 0x10
"""The MQTT 5 PUBACK reason code of a publish that no subscription matched."""


async def publish_v5(
    client: Client,
    topic: str,
    payload: bytes,
    *,
    content_type: str,
    response_topic: str | None = None,
    correlation: bytes | None = None,
    expiry: int | None = None,
    user_properties: tuple[tuple[str, str], ...] = (),
) -> bool:
    """Publish at QoS 1 with MQTT 5 properties and wait for the PUBACK; False when the
    broker answered 0x10, "No matching subscribers" (Mosquitto 2.0 does, to MQTT 5
    clients, when no subscription matches: measured on 2.0.11).

    Raises:
        PublishRefusedError: the broker refused it (0x87: not authorized).
        MQTTDisconnectedError: no connection at the moment.
    """
    # zmqtt's MQTTClient.publish discards the PUBACK, and FastStream's publish goes
    # through it: the reason code is only on the protocol's publish (zmqtt 0.2.5).
    protocol = client._protocol
    if protocol is None:
        raise zmqtt.MQTTDisconnectedError("Not connected")
    properties = zmqtt.PublishProperties(
        content_type=content_type, response_topic=response_topic, correlation_data=correlation,
        message_expiry_interval=expiry, user_properties=user_properties,
    )  # fmt: skip
    packet = Publish(topic=topic, payload=payload, qos=QOS1, retain=False, dup=False,
                     properties=properties)  # fmt: skip
    ack = await protocol.publish(packet)
    return ack is None or ack.reason_code != NO_MATCHING_SUBSCRIBERS


async def release_filters(
    client: Client, filters: Iterable[str], *, keep: Iterable[str] = (), settle: float = 0.5
) -> dict[str, int]:
    """Take back subscriptions a persistent session holds but no handler wants any more.

    The broker keeps a session's subscriptions until it is told otherwise, and goes on
    sending what they match; zmqtt keeps such a message unacknowledged (nothing of this
    process subscribes to it) and drops it after a while, so the broker sends it again on
    the next connection, for ever, each one holding a place in the session's in-flight
    window (``max_inflight_messages``): enough of them stall the replica. For each filter:
    subscribe to it again here, acknowledge and drop what comes for ``settle`` seconds
    (what was in flight and queued for it), then unsubscribe. zmqtt hands a message to
    the most specific of the filters that match it, so this is done only where each
    filter of ``keep`` (the replica's own, in place) that can match the same topics is
    more specific; otherwise the filter is only unsubscribed, since what it held reaches
    a handler of ``keep`` anyway. Returns the messages dropped per filter; a filter the
    broker no longer lets this client read is unsubscribed anyway.
    """
    kept = [_actual(f) for f in keep]
    dropped: dict[str, int] = {}
    for topic_filter in filters:
        stale = _actual(topic_filter)
        overlapping = [f for f in kept if _overlap(f.split("/"), stale.split("/"))]
        if any(_specificity(f) >= _specificity(stale) for f in overlapping):
            await _unsubscribe(client, topic_filter)
            dropped[topic_filter] = 0
            continue
        count = 0
        try:
            async with client.subscribe(
                topic_filter, qos=QOS1, retain_handling=zmqtt.RetainHandling.DO_NOT_SEND
            ) as subscription:
                with contextlib.suppress(TimeoutError):
                    while True:
                        async with asyncio.timeout(settle):
                            await subscription.get_message()
                        count += 1
        except zmqtt.MQTTSubscribeError:
            await _unsubscribe(client, topic_filter)  # refused: an UNSUBSCRIBE alone
        dropped[topic_filter] = count
    return dropped


async def _unsubscribe(client: Client, topic_filter: str) -> None:
    protocol = client._protocol  # an UNSUBSCRIBE without a SUBSCRIBE: on the protocol
    if protocol is not None:
        await protocol.unsubscribe([topic_filter])


def _actual(topic_filter: str) -> str:
    """The filter without its ``$share/<group>/`` prefix: what zmqtt matches topics to."""
    if topic_filter.startswith("$share/"):
        return topic_filter.split("/", 2)[2]
    return topic_filter


def _specificity(topic_filter: str) -> tuple[int, ...]:
    """zmqtt's rank of a filter: the lowest wins a topic that several filters match."""
    return tuple(2 if part == "#" else 1 if part == "+" else 0 for part in topic_filter.split("/"))


def _overlap(a: list[str], b: list[str]) -> bool:
    """Whether some topic matches both filters (given level by level)."""
    if not a or not b:
        rest = a or b
        return not rest or rest == ["#"]
    if "#" in (a[0], b[0]):
        return True
    if "+" in (a[0], b[0]) or a[0] == b[0]:
        return _overlap(a[1:], b[1:])
    return False
