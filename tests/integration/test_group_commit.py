"""Group commit against the real store: concurrent journal-first publishes share insert
commands, and each envelope is in the journal before it is sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from beanie import init_beanie
from pymongo import AsyncMongoClient, monitoring

import bus.publisher
from bus import BusSettings, Envelope, Publisher
from bus._internal.broker import send as real_send
from bus.journal import JournalEntry, record, record_many
from bus.mongo import connect_mongo, release_mongo
from tests.helpers import uploaded

CONCURRENT = 50
EACH = 3


class Inserts(monitoring.CommandListener):
    """Counts the insert commands on the journal collection (documents in each)."""

    def __init__(self) -> None:
        self.documents: list[int] = []
        self.client: AsyncMongoClient[Any] | None = None

    async def bind(self) -> None:
        """Bind the journal to the listening client (Beanie: the last binding wins)."""
        assert self.client is not None
        await init_beanie(
            database=self.client.get_default_database(),
            document_models=[JournalEntry],
            skip_indexes=True,
        )

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "insert" and event.command.get("insert") == "journal":
            self.documents.append(len(event.command.get("documents", [])))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def inserts(settings: BusSettings) -> AsyncIterator[Inserts]:
    """The journal bound to a client whose insert commands are counted."""
    listener = Inserts()
    await connect_mongo(settings.mongo_url, [JournalEntry])  # creates the indexes
    listener.client = AsyncMongoClient(
        settings.mongo_url, tz_aware=True, event_listeners=[listener]
    )
    try:
        await listener.bind()
        yield listener
    finally:
        await listener.client.close()
        await release_mongo(settings.mongo_url)


async def test_concurrent_publishes_share_insert_commands_and_journal_before_sending(
    settings: BusSettings, inserts: Inserts, monkeypatch: pytest.MonkeyPatch
) -> None:
    unjournaled: list[str] = []
    sent: list[str] = []

    async def send(broker: Any, envelope: Envelope, topic: str, **_: object) -> None:
        if await JournalEntry.get(envelope.id) is None:
            unjournaled.append(envelope.id)
        await real_send(broker, envelope, topic)
        sent.append(envelope.id)

    monkeypatch.setattr(bus.publisher, "send", send)
    async with Publisher(settings=settings) as publisher:
        # The Publisher bound the journal to its own client: count ours again.
        await inserts.bind()

        async def one(k: int) -> list[Envelope]:
            # In turn: the later ones arrive while other publishers' writes are in flight.
            return [await publisher.publish(uploaded(k * EACH + n)) for n in range(EACH)]

        envelopes = [e for each in await asyncio.gather(*map(one, range(CONCURRENT))) for e in each]

    assert unjournaled == [], "an envelope was sent before its journal write"
    assert sorted(sent) == sorted(e.id for e in envelopes)
    assert sum(inserts.documents) == CONCURRENT * EACH
    assert len(inserts.documents) < CONCURRENT * EACH / 2, inserts.documents
    assert await JournalEntry.find_all().count() == CONCURRENT * EACH


async def test_the_store_answers_duplicate_ids_per_document(inserts: Inserts) -> None:
    """FerretDB 1.24 as MongoDB: an unordered insert_many goes past duplicate keys (one
    already stored, one twice in the batch) and names each by index, code 11000."""
    stored = Envelope.wrap(uploaded(0), source="/test/1", id="derived-0")
    assert await record(stored) is True
    twice = Envelope.wrap(uploaded(1), source="/test/1", id="derived-1")
    fresh = Envelope.wrap(uploaded(2), source="/test/1")
    assert await record_many([twice, stored, twice, fresh]) == [True, False, False, True]
    assert len(inserts.documents) == 2
    ids = {entry.id for entry in await JournalEntry.find_all().to_list()}
    assert ids == {"derived-0", "derived-1", fresh.id}
