"""The journal keeps only facts the contracts allow, and dead-letters the rest: against
the real broker and store."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bus import BusSettings, Envelope, Publisher, Service
from bus._internal.mqtt import QOS1, connected_client
from bus.deadletters import StoredDeadLetter
from bus.journal import since
from contracts import DocumentFailed, DocumentUploaded, all_events
from services.journal import JournalEntry, create_service
from tests.helpers import eventually, uploaded

pytestmark = pytest.mark.timeout(60)

UPLOADED = DocumentUploaded.contract


def failed() -> Envelope:
    event = DocumentFailed(
        document_id=uuid.uuid4(), owner="alice", filename="report.pdf",
        storage_url="file:///tmp/report.pdf", stage="inspect", reason="forged",
    )  # fmt: skip
    return Envelope.wrap(event, source="/attacker/1")


def raw(envelope_type: str, data: dict[str, object]) -> tuple[str, bytes]:
    event_id = str(uuid.uuid4())
    envelope = {
        "specversion": "1.0", "id": event_id, "source": "/attacker/1", "type": envelope_type,
        "time": datetime.now(UTC).isoformat(), "data": data,
    }  # fmt: skip
    return event_id, json.dumps(envelope).encode()


async def test_the_journal_dead_letters_what_the_contracts_do_not_allow(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    journal = create_service(unique("journal"), settings=settings)
    services.append(journal)
    await journal.start()

    wrong_topic = failed()  # a valid DocumentFailed, sent on DocumentUploaded's topic
    fails_contract, bad_data = raw(UPLOADED.type, {"owner": "bob"})
    big = uploaded(2).model_dump(mode="json")
    big["size_bytes"] = 10**100  # the contract allows it; no BSON integer holds it
    unstorable, big_data = raw(UPLOADED.type, big)
    nul = uploaded(3).model_dump(mode="json")
    nul["filename"] = "a\x00b.txt"  # valid JSON; PostgreSQL (FerretDB's backend) refuses it
    with_nul, nul_data = raw(UPLOADED.type, nul)
    async with connected_client(settings) as client:
        topic = settings.wire_topic(UPLOADED.topic)
        for payload in (wrong_topic.to_bytes(), bad_data, big_data, nul_data):
            await client.publish(topic, payload, qos=QOS1)
    async with Publisher(settings=settings.model_copy(update={"journal_first": False})) as pub:
        fact = await pub.publish(uploaded(1))

    refused = {wrong_topic.id: "arrived on the topic of", fails_contract: "fails its contract"}
    refused[unstorable] = "cannot store"
    refused[with_nul] = "NUL character"

    async def letters() -> dict[str, StoredDeadLetter]:
        found = await StoredDeadLetter.find(StoredDeadLetter.service == journal.name).to_list()
        return {letter.event_id or "": letter for letter in found}

    async def all_dead_lettered() -> bool:
        return set(await letters()) == set(refused)

    async def journaled() -> bool:
        return await JournalEntry.get(fact.id) is not None

    await eventually(all_dead_lettered, what="the journal to dead-letter the four refusals")
    await eventually(journaled, what="the valid event in the journal")
    for event_id, letter in (await letters()).items():
        assert letter.kind == "poison"
        assert letter.attempts == 1, "poison is never tried again"
        assert refused[event_id] in letter.reason
        assert letter.payload, "the raw payload is kept"
        assert await JournalEntry.get(event_id) is None, letter.reason

    # What catch-up reads back for any consumer: the fact, and nothing else.
    types = [event.contract.type for event in all_events()]
    assert [entry.id for entry in await since(types, start)] == [fact.id]
