"""Building FastStream MQTT brokers the way every part of the bus needs them."""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import zmqtt
from faststream.exceptions import IncorrectState
from faststream.middlewares import AckPolicy
from faststream.mqtt import MQTTBroker, TestMQTTBroker
from faststream.mqtt.annotations import MQTTMessage
from faststream.security import BaseSecurity, SASLPlaintext

from bus.constants import CLOUDEVENTS_CONTENT_TYPE
from bus.envelope import Envelope, WireMessage
from bus.security.credentials import Credential, CredentialStore

if TYPE_CHECKING:
    from fast_depends.library.serializer import SerializerProto
    from faststream.message import StreamMessage
    from faststream.mqtt.subscriber.usecase import MQTTBaseSubscriber

    Subscriber = MQTTBaseSubscriber

    from bus.settings import BusSettings


_log = logging.getLogger("bus.mqtt")

Broker = MQTTBroker
"""A FastStream MQTT broker connection (what :func:`make_broker` gives)."""


class RawCloudEventsCodec:
    """Hands the payload bytes to the bus untouched and marks what it sends.

    The bus parses envelopes itself, so that a malformed payload becomes a
    clear poison-message reason instead of an error inside FastStream. Bytes go
    out as structured-mode CloudEvents; a :class:`~bus.envelope.WireMessage` with
    its own content type (a binary-mode event, see :func:`send`).
    """

    async def decode(self, msg: StreamMessage[Any]) -> Any:
        # The message itself: with apply_types=False (see make_broker), FastStream calls
        # the subscriber with what this returns, and the bus needs the message to ack it.
        return msg

    async def encode(
        self, msg: Any, serializer: SerializerProto | None = None
    ) -> tuple[bytes, str | None]:
        # FastStream takes the PUBLISH's content type from here, never from publish().
        if isinstance(msg, WireMessage):
            return msg.payload, msg.content_type
        if not isinstance(msg, bytes):
            msg = str(msg).encode()
        return msg, CLOUDEVENTS_CONTENT_TYPE


SESSION_REPLAY_TIMEOUT = 300.0
"""Seconds zmqtt holds a resumed session's messages that no local subscription matches.

With the unbounded queues of :class:`_Broker`, a message of ours waits in zmqtt's
replay buffer only until its subscription is restored after a reconnection (a few
SUBSCRIBE round trips, each answered behind whatever the broker resent first).
When the time is up zmqtt drops what is left unacknowledged (the broker resends it
on the next connection) and, for the rest of that connection, acknowledges and
discards messages that match no subscription. So this must comfortably exceed the
time to restore every subscription; zmqtt's default of 30 s is too close to the
time it takes to read a large resent backlog. What can still be there after it:
messages of a subscription the broker session has and this code no longer declares.
"""


class _Broker(MQTTBroker):
    """An ``MQTTBroker`` whose zmqtt subscriptions have unbounded queues.

    Mosquitto 2.0.11 does not hold a connected client to ``max_inflight_messages``:
    once the client acknowledges messages it sends what is queued for it as well
    (measured: unacknowledged QoS 1 messages reach ``max_inflight_messages`` +
    ``max_queued_messages``, here 100 + 1000000; a client Receive Maximum is exceeded
    the same way). zmqtt's only flow control is then its subscription queue, which
    FastStream leaves at zmqtt's default of 1000: once it is full, zmqtt's read loop
    stops reading the socket. Behind a slow handler that stalls every packet queued
    after those PUBLISHes, PINGRESP included: zmqtt's ping times out (10 s) and it
    drops the connection itself.

    On reconnection the broker resends every unacknowledged message at once, before
    zmqtt has subscribed again (it restores subscriptions one by one once its read
    loop runs). zmqtt holds them in its persistent-session replay buffer, and keeps
    holding later messages of the same topics until it can hand them over. Past 1000
    it closed the connection, having acknowledged none, and the next connection got
    the same messages: the service never handled another event. Hence an unbounded
    replay buffer (``session_replay_buffer_size=0`` in :func:`make_broker`), and
    unbounded queues: zmqtt hands buffered messages over only to a queue with room,
    walking the whole buffer each time a message is taken from a queue, which with a
    full queue costs the length of the buffer per message.

    Memory holds at most what the broker sends: the events queued for this client,
    which Mosquitto keeps in its own memory too (``max_queued_messages`` in
    infra/mosquitto/mosquitto.conf bounds both); about 4 KB per event measured.
    """

    async def _connect(self) -> zmqtt.MQTTClient:
        client = await super()._connect()
        # FastStream creates each subscription as client.subscribe(topic, qos=, auto_ack=).
        client.subscribe = functools.partial(client.subscribe, receive_buffer_size=0)  # type: ignore[method-assign]
        return client


def make_broker(
    settings: BusSettings,
    *,
    client_id: str = "",
    persistent: bool = False,
    will: zmqtt.Will | None = None,
    reconnect: bool = True,
    identity: str | None = None,
    credential: Credential | None = None,
) -> MQTTBroker:
    """An MQTT 5 broker connection.

    A persistent one keeps its session (subscriptions and queued QoS 1 events)
    on the broker for ``settings.session_expiry`` seconds after it goes away,
    and resumes it when a client with the same id connects again. Without
    ``reconnect`` (commands, scripts) a refused connection fails at once.

    It logs in as ``credential``; else as the settings say (``mqtt_username``, or
    user:password in ``mqtt_url``); else, from ``settings.credentials_dir``, as the
    replica ``client_id`` of the service ``identity`` (its scoped name) when that
    service has a credential, or as ``ops`` (see :mod:`bus.security.credentials`).
    """
    retry = (
        # zmqtt's default gives up after five attempts; a service waits for its broker.
        zmqtt.ReconnectConfig(initial_delay=0.2, max_delay=5.0, max_attempts=None)
        if reconnect
        else zmqtt.ReconnectConfig(enabled=False)
    )
    return _Broker(
        settings.mqtt_url,
        security=_security(settings, client_id, identity, credential),
        client_id=client_id,
        clean_session=not persistent,
        session_expiry_interval=settings.session_expiry if persistent else 0,
        keepalive=settings.keepalive,
        will=will,
        version="5.0",
        reconnect=retry,
        codec=RawCloudEventsCodec(),
        # No FastDepends: it resolves the handler's parameters on each message, and ran
        # sync resolvers in a worker thread each time (4 thread hops per message: about
        # half the CPU of a delivery). The subscriber gets the message from the codec.
        apply_types=False,
        logger=logging.getLogger("bus.mqtt"),
        log_level=logging.DEBUG,  # FastStream logs every message at this level
        graceful_timeout=30.0,
        # A resumed session's backlog arrives before zmqtt has subscribed again and waits
        # here (see _Broker). No limit: over one, zmqtt closes the connection and the
        # broker resends the same backlog on the next one.
        session_replay_buffer_size=0,
        session_replay_timeout=SESSION_REPLAY_TIMEOUT,
    )


def _security(
    settings: BusSettings, client_id: str, identity: str | None, credential: Credential | None
) -> BaseSecurity | None:
    if credential is None and settings.mqtt_username is not None:
        secret = settings.mqtt_password
        credential = Credential(settings.mqtt_username, secret.get_secret_value() if secret else "")
    if credential is None and urlsplit(settings.mqtt_url).username is None:
        store = CredentialStore(settings.credentials_dir)
        credential = store.for_replica(identity, client_id)
    # mqtts://: the broker's certificate must be signed by settings.mqtt_ca_file (the
    # local stack's CA) or, without one, by a CA the system trusts; and name its host.
    tls = None
    if urlsplit(settings.mqtt_url).scheme.lower() == "mqtts":
        tls = ssl.create_default_context(cafile=settings.mqtt_ca_file)
    if credential is None:
        return None if tls is None else BaseSecurity(ssl_context=tls)
    return SASLPlaintext(
        username=credential.username, password=credential.password, ssl_context=tls
    )


async def send_bytes(broker: MQTTBroker, payload: bytes, topic: str) -> None:
    """Publish bytes at QoS 1 and wait for the broker's PUBACK."""
    await broker.publish(payload, topic, qos=zmqtt.QoS.AT_LEAST_ONCE)


async def send(broker: MQTTBroker, envelope: Envelope, topic: str, *, binary: bool = False) -> None:
    """Publish an envelope at QoS 1 and wait for the broker's PUBACK.

    ``binary``: in the CloudEvents binary content mode (attributes as MQTT 5 user
    properties, ``data`` as the payload); else structured (the whole event as JSON).
    """
    message = envelope.to_message(binary=binary)
    await broker.publish(
        message,
        topic,
        qos=zmqtt.QoS.AT_LEAST_ONCE,
        # Attribute names are unique, so a dict loses none of the user properties.
        headers=dict(message.properties) or None,
        correlation_id=envelope.correlation,
    )


def raw_client(broker: MQTTBroker) -> zmqtt.MQTTClient:
    """The zmqtt client under a started broker (for subscriptions the bus manages itself).

    Raises:
        IncorrectState: the broker was never started.
    """
    client: zmqtt.MQTTClient = broker.config.client
    return client


def connection_id(broker: MQTTBroker) -> int | None:
    """The number of the broker connection that is up right now (zmqtt counts each
    successful connection of a client), or None while there is none."""
    try:
        current: int = raw_client(broker).connection_info.connection_id
    except (zmqtt.MQTTDisconnectedError, IncorrectState, RuntimeError, AttributeError):
        return None
    return current


async def detach(subscribers: list[MQTTBaseSubscriber]) -> None:
    """Stop local delivery while keeping the subscriptions in the broker session.

    FastStream's ``subscriber.stop()`` sends UNSUBSCRIBE, which would remove
    the subscription from a persistent session: events published while the
    service is down would then be dropped instead of queued for it. zmqtt's
    ``Subscription.detach()`` stops delivery without telling the broker, so
    the session keeps the subscription and the broker keeps queueing.
    """
    for subscriber in subscribers:
        subscription = subscriber._subscription
        subscriber._subscription = None
        await subscriber.stop()  # cancels the consume loop before its subscription goes
        if subscription is not None:
            await subscription.detach()


@dataclass(frozen=True, slots=True)
class Received:
    """One message a subscription took, not yet acknowledged (:func:`acknowledge`)."""

    message: MQTTMessage

    @property
    def topic(self) -> str:
        """The topic it was published on, as it travelled (namespace included)."""
        topic: str = self.message.raw_message.topic
        return topic

    @property
    def payload(self) -> bytes:
        return self.message.body

    @property
    def wire(self) -> WireMessage:
        """Payload, content type and user properties, as the CloudEvents binding reads them."""
        return wire_message(self.message.raw_message)


def wire_message(message: zmqtt.Message) -> WireMessage:
    """A received zmqtt message as the CloudEvents binding reads it (user properties
    in order and with repeats, which FastStream's ``headers`` dict would lose)."""
    properties = message.properties
    if properties is None:  # MQTT 3.1.1, or a PUBLISH without properties
        return WireMessage(message.payload)
    return WireMessage(message.payload, properties.content_type, properties.user_properties)


def subscribe(
    broker: MQTTBroker,
    topic: str,
    receive: Callable[[Received], Awaitable[None]],
    *,
    shared: str | None,
) -> MQTTBaseSubscriber:
    """A QoS 1 subscription on ``broker`` (before it starts) whose messages go to
    ``receive``, acknowledged only by :func:`acknowledge`; ``shared`` names the shared
    subscription group (``$share/<group>/<topic>``), None for a plain one."""

    async def consume(message: MQTTMessage) -> None:
        await receive(Received(message))

    consume.__name__ = receive.__name__
    subscriber = broker.subscriber(
        topic, qos=zmqtt.QoS.AT_LEAST_ONCE, shared=shared, ack_policy=AckPolicy.MANUAL,
        no_reply=True,
    )  # fmt: skip
    subscriber(consume)
    return subscriber


async def acknowledge(received: Received) -> None:
    """Send the PUBACK now, after the final outcome: a crash before this means redelivery."""
    try:
        await received.message.ack()
    except zmqtt.MQTTError:
        # The connection dropped after the work was done. The broker will deliver the
        # event again on the resumed session, and dedup will skip it.
        _log.debug("ack lost with the connection; the redelivery will be skipped")


@asynccontextmanager
async def in_memory_broker(broker: MQTTBroker) -> AsyncIterator[MQTTBroker]:
    """``broker`` patched to deliver in memory, started for the block (FastStream's
    ``TestMQTTBroker``): for unit tests of handler logic."""
    async with TestMQTTBroker(broker) as patched:
        yield patched
