"""CloudEvents' MQTT binary content mode from a client outside the bus (aiomqtt, MQTT 5),
against the real broker and stores: handled, journaled in its own chain, dead-lettered
with its MQTT properties and replayed with them (issue 13)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bus import BusSettings, Envelope, Service
from bus.deadletters import StoredDeadLetter
from bus.errors import PoisonMessageError
from bus.journal import chain
from contracts import DocumentUploaded
from services.journal import JournalEntry, create_service
from tests.helpers import bus, eventually, ops_login, uploaded

TOPIC = DocumentUploaded.contract.topic
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@asynccontextmanager
async def outsider(settings: BusSettings) -> AsyncIterator[aiomqtt.Client]:
    """An MQTT 5 client of another team's, logged in as ops."""
    url = urlsplit(settings.mqtt_url)
    login = ops_login(settings)
    async with aiomqtt.Client(
        url.hostname or "localhost", url.port or 1883, username=login.username,
        password=login.password, protocol=aiomqtt.ProtocolVersion.V5,
    ) as client:  # fmt: skip
        yield client


async def publish_binary(
    client: aiomqtt.Client, settings: BusSettings, event_id: str, **extensions: str
) -> DocumentUploaded:
    """A DocumentUploaded in binary mode, without correlationid: data as the payload,
    ``application/json`` as the content type, each attribute a user property."""
    event = uploaded(1, owner="partner")
    properties: Any = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.ContentType = "application/json"
    attributes = {
        "specversion": "1.0", "id": event_id, "source": "/partner/importer",
        "type": DocumentUploaded.contract.type, "time": datetime.now(UTC).isoformat(),
        **extensions,
    }  # fmt: skip
    properties.UserProperty = list(attributes.items())
    await client.publish(
        settings.wire_topic(TOPIC), event.model_dump_json().encode(), qos=1, properties=properties
    )
    return event


async def test_an_outside_binary_event_is_handled_and_starts_its_own_chain(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    relay = Service(unique("relay"), settings=settings, produces=[DocumentUploaded])
    got: list[tuple[DocumentUploaded, Envelope]] = []

    @relay.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded, envelope: Envelope) -> None:
        got.append((event, envelope))
        if event.owner == "partner":  # answer in binary mode too
            await relay.publish(event.model_copy(update={"owner": "relayed"}), binary=True)

    journal = create_service(unique("journal"), settings=settings)
    for service in (journal, relay):
        services.append(service)
        await service.start()

    first_id = unique("outside")
    async with outsider(settings) as client:
        await client.subscribe(settings.wire_topic(TOPIC), qos=1)
        sent = await publish_binary(
            client, settings, first_id, traceparent=TRACEPARENT, tenant="acme"
        )
        async with asyncio.timeout(20):
            seen = [message async for message in _first(client.messages, 2)]

    # The relay's answer, as the outside client sees it: binary mode, attributes as properties.
    answer = seen[1]
    props: Any = answer.properties
    assert props is not None
    assert props.ContentType == "application/json"
    attributes = dict(props.UserProperty)
    assert attributes["correlationid"] == first_id  # the outside event's id: its chain
    assert attributes["causationid"] == first_id
    assert attributes["source"] == relay.source
    assert "data" not in attributes
    assert isinstance(answer.payload, bytes)
    assert json.loads(answer.payload)["owner"] == "relayed"

    await eventually(lambda: len(got) == 2, what="the relay to handle both events")
    (event, envelope), (_, relayed) = got
    assert event == sent
    assert envelope.id == first_id
    assert envelope.correlationid is None
    assert envelope.extensions() == {"tenant": "acme"}
    assert envelope.traceparent == TRACEPARENT  # same trace id: the handler's span continued it
    assert relayed.correlationid == first_id

    async def both_journaled() -> bool:
        return (
            await JournalEntry.find(JournalEntry.type == DocumentUploaded.contract.type).count()
            == 2
        )

    await eventually(both_journaled, what="the journal to record both events")
    whole = await chain(first_id)
    assert [entry.id for entry in whole] == [first_id, relayed.id]
    assert whole[0].envelope["tenant"] == "acme"


async def _first(
    messages: AsyncIterator[aiomqtt.Message], count: int
) -> AsyncIterator[aiomqtt.Message]:
    async for message in messages:
        yield message
        count -= 1
        if count == 0:
            return


async def test_a_refused_binary_event_keeps_its_properties_and_replays_after_the_fix(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    tenants = {"acme"}
    reader = Service(unique("reader"), settings=settings)
    handled: list[Envelope] = []

    @reader.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded, envelope: Envelope) -> None:
        tenant = envelope.extensions().get("tenant")
        if tenant not in tenants:
            raise PoisonMessageError(f"unknown tenant {tenant!r}")
        handled.append(envelope)

    services.append(reader)
    await reader.start()

    event_id = unique("outside")
    async with outsider(settings) as client:
        await publish_binary(client, settings, event_id, tenant="globex")

    async def dead_lettered() -> StoredDeadLetter | None:
        return await StoredDeadLetter.find_one(StoredDeadLetter.event_id == event_id)

    async def stored() -> bool:
        return await dead_lettered() is not None

    await eventually(stored, what="the event to be dead-lettered")
    letter = await dead_lettered()
    assert letter is not None
    assert letter.reason == "unknown tenant 'globex'"
    assert letter.content_type == "application/json"
    properties = dict(letter.mqtt_properties())
    assert properties["tenant"] == "globex"
    assert properties["id"] == event_id
    assert json.loads(letter.payload or "")["owner"] == "partner"  # the data alone
    assert handled == []

    tenants.add("globex")  # the fix
    env = dict(
        os.environ,
        BUS_MONGO_URL=settings.mongo_url,
        BUS_MQTT_URL=settings.mqtt_url,
        BUS_NAMESPACE=settings.namespace,
    )
    # A process of its own: the command opens MongoDB, and Beanie binds its client to one
    # event loop per process (this test's service uses it in this one).
    replay = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bus", "dlq", "replay", letter.id, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await replay.communicate()
    assert replay.returncode == 0, err.decode()

    await eventually(lambda: len(handled) == 1, what="the replay to be handled")
    [envelope] = handled
    assert envelope.id == event_id
    assert envelope.source == "/partner/importer"
    assert envelope.extensions() == {"tenant": "globex"}

    async def letter_removed() -> bool:
        return await StoredDeadLetter.get(letter.id) is None

    await eventually(letter_removed, what="the dead letter to be removed")


async def test_a_binary_event_with_a_bad_attribute_is_dead_lettered_with_the_reason(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    reader = Service(unique("reader"), settings=settings)
    handled: list[str] = []

    @reader.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded, envelope: Envelope) -> None:
        handled.append(envelope.id)

    services.append(reader)
    await reader.start()

    bad_id, good_id = unique("bad"), unique("good")
    async with outsider(settings) as client:
        await publish_binary(client, settings, bad_id, time="yesterday")
        await publish_binary(client, settings, good_id)

    await eventually(lambda: handled == [good_id], what="the next event to be handled")

    async def dead_lettered() -> StoredDeadLetter | None:
        return await StoredDeadLetter.find_one(StoredDeadLetter.event_id == None)  # noqa: E711 - a MongoDB query

    async def stored() -> bool:
        return await dead_lettered() is not None

    # Both are in flight at once: the good one can be handled before the letter is stored.
    await eventually(stored, what="the bad event to be dead-lettered")
    letter = await dead_lettered()
    assert letter is not None
    assert letter.kind == "poison"
    assert "binary mode" in letter.reason
    assert "time" in letter.reason
    assert dict(letter.mqtt_properties())["id"] == bad_id
    assert letter.content_type == "application/json"


async def test_bus_publish_binary_sends_binary_mode_that_a_service_reads(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    reader = Service(unique("reader"), settings=settings)
    handled: list[Envelope] = []

    @reader.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded, envelope: Envelope) -> None:
        handled.append(envelope)

    services.append(reader)
    await reader.start()
    event_id = unique("cli")
    # No journal write: in this process Beanie's client is bound to the test's event loop,
    # and the command runs its own.
    env = {"BUS_NAMESPACE": settings.namespace, "BUS_JOURNAL_FIRST": "false"}
    data = uploaded(3).model_dump_json()
    async with outsider(settings) as client:
        await client.subscribe(settings.wire_topic(TOPIC), qos=1)
        result = await asyncio.to_thread(
            bus, "publish", "documents.uploaded.v1", data, "--binary", "--id", event_id, env=env
        )
        assert result.exit_code == 0, result.stderr
        async with asyncio.timeout(20):
            message = await anext(aiter(client.messages))

    props: Any = message.properties
    assert props.ContentType == "application/json"
    assert dict(props.UserProperty)["id"] == event_id
    assert isinstance(message.payload, bytes)
    assert json.loads(message.payload)["filename"] == "file-3.txt"
    await eventually(lambda: [e.id for e in handled] == [event_id], what="the reader to handle it")


async def test_an_mqtt_311_client_publishes_structured_mode_without_a_content_type(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    reader = Service(unique("reader"), settings=settings)
    handled: list[Envelope] = []

    @reader.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded, envelope: Envelope) -> None:
        handled.append(envelope)

    services.append(reader)
    await reader.start()
    sent = Envelope.wrap(uploaded(4), source="/partner/legacy")
    url = urlsplit(settings.mqtt_url)
    login = ops_login(settings)
    async with aiomqtt.Client(
        url.hostname or "localhost", url.port or 1883, username=login.username,
        password=login.password, protocol=aiomqtt.ProtocolVersion.V311,
    ) as client:  # fmt: skip
        await client.publish(settings.wire_topic(TOPIC), sent.to_bytes(), qos=1)

    await eventually(lambda: handled == [sent], what="the reader to handle it")
