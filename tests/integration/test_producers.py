"""Consumers trust an event only from a declared producer of its type."""

from __future__ import annotations

from collections.abc import Callable

from bus import BusSettings, Publisher, Service
from bus._internal.mqtt import connected_client, publish_retained
from bus.constants import PRODUCERS_TOPIC
from bus.deadletters import StoredDeadLetter
from bus.security.producers import encode_map
from contracts import DocumentUploaded
from tests.helpers import eventually, uploaded


async def test_an_event_whose_source_is_no_producer_is_dead_lettered(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    topic = settings.wire_topic(PRODUCERS_TOPIC)
    producers = {DocumentUploaded.contract.type: ["cli", "gateway"]}
    async with connected_client(settings) as client:
        await publish_retained(client, topic, encode_map(producers))
    try:
        reader = Service(unique("reader"), settings=settings)
        seen: list[str] = []

        @reader.on(DocumentUploaded)
        async def on_uploaded(event: DocumentUploaded) -> None:
            seen.append(event.filename)

        services.append(reader)
        await reader.start()
        async with Publisher(settings=settings, source="/evil/1") as forger:
            await forger.publish(uploaded(1))
        async with Publisher(settings=settings, source="/gateway/0") as gateway:
            await gateway.publish(uploaded(2))
        async with Publisher(settings=settings) as person:  # /cli/<host>-<pid>
            await person.publish(uploaded(3))

        letters = StoredDeadLetter.find(StoredDeadLetter.service == reader.name)

        async def dead_lettered() -> bool:
            return await letters.count() > 0

        await eventually(lambda: sorted(seen) == ["file-2.txt", "file-3.txt"], what="handled")
        await eventually(dead_lettered, what="the forged event in dead letters")
        [letter] = await letters.to_list()
        assert letter.kind == "poison"
        assert letter.reason == (
            "source /evil/1 is not a replica of a declared producer of "
            "documents.uploaded.v1 (cli, gateway)"
        )
        assert sorted(seen) == ["file-2.txt", "file-3.txt"]
    finally:
        async with connected_client(settings) as client:
            await publish_retained(client, topic, b"")
