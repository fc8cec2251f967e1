"""What travels on the wire, seen by an independent client (aiomqtt)."""

import asyncio
import json
from collections.abc import Callable
from urllib.parse import urlsplit

import aiomqtt
from paho.mqtt.properties import Properties

from bus import BusSettings, Envelope, Publisher, Service
from contracts import DocumentUploaded
from tests.helpers import ops_login, uploaded


async def test_a_handler_publishes_cloudevents_with_correlation_and_causation(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    relay = Service(unique("relay"), settings=settings)

    @relay.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded) -> None:
        if event.owner != "relayed":
            await relay.publish(event.model_copy(update={"owner": "relayed"}))

    services.append(relay)
    await relay.start()

    url = urlsplit(settings.mqtt_url)
    received: list[tuple[dict[str, object], Properties | None]] = []
    async with aiomqtt.Client(
        url.hostname or "localhost",
        url.port or 1883,
        protocol=aiomqtt.ProtocolVersion.V5,
        username=ops_login(settings).username,
        password=ops_login(settings).password,
    ) as observer:
        await observer.subscribe(settings.wire_topic("documents/uploaded/v1"), qos=1)
        async with Publisher(settings=settings) as publisher:
            first = await publisher.publish(uploaded())
        async with asyncio.timeout(20):
            async for message in observer.messages:
                assert isinstance(message.payload, bytes)
                document = json.loads(message.payload)
                if document.get("correlationid") != first.id:
                    continue  # another test's traffic
                received.append((document, message.properties))
                if len(received) == 2:
                    break

    (original, props), (caused, _) = received
    assert original["id"] == first.id
    assert original["specversion"] == "1.0"
    assert original["type"] == "documents.uploaded.v1"
    assert original["datacontenttype"] == "application/json"
    assert props is not None
    assert getattr(props, "ContentType", None) == "application/cloudevents+json"
    assert caused["source"] == f"/{relay.name}/1"
    assert caused["causationid"] == first.id
    assert caused["correlationid"] == first.id
    assert caused["id"] != first.id
    assert Envelope.model_validate(caused).data["owner"] == "relayed"
