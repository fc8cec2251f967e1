"""Building FastStream MQTT brokers the way every part of the bus needs them."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import zmqtt
from faststream.mqtt import MQTTBroker

from bus.constants import CLOUDEVENTS_CONTENT_TYPE

if TYPE_CHECKING:
    from fast_depends.library.serializer import SerializerProto
    from faststream.message import StreamMessage
    from faststream.mqtt.subscriber.usecase import MQTTBaseSubscriber

    from bus.envelope import Envelope
    from bus.settings import BusSettings


class RawCloudEventsCodec:
    """Hands the payload bytes to the bus untouched and marks what it sends.

    The bus parses envelopes itself, so that a malformed payload becomes a
    clear poison-message reason instead of an error inside FastStream.
    """

    async def decode(self, msg: StreamMessage[Any]) -> Any:
        return msg.body

    async def encode(
        self, msg: Any, serializer: SerializerProto | None = None
    ) -> tuple[bytes, str | None]:
        if not isinstance(msg, bytes):
            msg = str(msg).encode()
        return msg, CLOUDEVENTS_CONTENT_TYPE


def make_broker(
    settings: BusSettings,
    *,
    client_id: str = "",
    persistent: bool = False,
    will: zmqtt.Will | None = None,
    reconnect: bool = True,
) -> MQTTBroker:
    """An MQTT 5 broker connection.

    A persistent one keeps its session (subscriptions and queued QoS 1 events)
    on the broker for ``settings.session_expiry`` seconds after it goes away,
    and resumes it when a client with the same id connects again. Without
    ``reconnect`` (commands, scripts) a refused connection fails at once.
    """
    retry = (
        # zmqtt's default gives up after five attempts; a service waits for its broker.
        zmqtt.ReconnectConfig(initial_delay=0.2, max_delay=5.0, max_attempts=None)
        if reconnect
        else zmqtt.ReconnectConfig(enabled=False)
    )
    return MQTTBroker(
        settings.mqtt_url,
        client_id=client_id,
        clean_session=not persistent,
        session_expiry_interval=settings.session_expiry if persistent else 0,
        keepalive=settings.keepalive,
        will=will,
        version="5.0",
        reconnect=retry,
        codec=RawCloudEventsCodec(),
        logger=logging.getLogger("bus.mqtt"),
        log_level=logging.DEBUG,  # FastStream logs every message at this level
        graceful_timeout=30.0,
    )


async def send(broker: MQTTBroker, envelope: Envelope, topic: str) -> None:
    """Publish an envelope at QoS 1 and wait for the broker's PUBACK."""
    await broker.publish(
        envelope.to_bytes(),
        topic,
        qos=zmqtt.QoS.AT_LEAST_ONCE,
        correlation_id=envelope.correlationid,
    )


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
