"""An event MongoDB cannot store is dead-lettered in a form it can, and acknowledged:
against the real broker and the real MongoDB-compatible store."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
from beanie import Document

from bus import BusSettings, Envelope, Publisher, RetryPolicy, Service
from bus._internal.mqtt import QOS1, connected_client
from bus.deadletters import DeadLetter, MongoDeadLetters, StoredDeadLetter
from bus.deadletters.storable import PAYLOAD_LIMIT
from contracts import DocumentUploaded
from tests.helpers import eventually, settled, uploaded

pytestmark = pytest.mark.timeout(90)

TOPIC = DocumentUploaded.contract.topic
HUGE = 10**100
QUICK = RetryPolicy(attempts=5, initial_delay=0.01, max_delay=0.02)


class Upload(Document):
    """What a handler stores: the event's data, as the catalog does."""

    event_id: str
    data: dict[str, object]

    class Settings:
        name = "badinput_uploads"


def huge_upload() -> tuple[str, bytes]:
    """A DocumentUploaded that fits JSON and the contract, but no BSON integer."""
    event_id = str(uuid.uuid4())
    envelope = {
        "specversion": "1.0", "id": event_id, "source": "/attacker",
        "type": DocumentUploaded.contract.type, "time": "2026-01-01T00:00:00Z",
        "data": {
            "document_id": str(uuid.uuid4()), "owner": "mallory", "filename": "big.txt",
            "size_bytes": HUGE, "content_type": "text/plain", "storage_url": "file:///tmp/x",
        },
    }  # fmt: skip
    return event_id, json.dumps(envelope).encode()


def storing_service(name: str, settings: BusSettings, seen: list[str]) -> Service:
    service = Service(name, settings=settings, documents=[Upload], retry=QUICK)

    @service.on(DocumentUploaded)
    async def store(event: DocumentUploaded, envelope: Envelope) -> None:
        seen.append(envelope.id)
        await Upload(event_id=envelope.id, data=envelope.data or {}).insert()

    return service


async def test_an_event_mongo_cannot_store_is_dead_lettered_and_never_comes_back(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    name, seen = unique("storing"), list[str]()
    first = storing_service(name, settings, seen)
    services.append(first)
    await first.start()
    poison_id, payload = huge_upload()
    async with connected_client(settings) as raw:
        await raw.publish(settings.wire_topic(TOPIC), payload, qos=QOS1)

    async def dead_lettered() -> bool:
        return await StoredDeadLetter.find_one(StoredDeadLetter.event_id == poison_id) is not None

    await eventually(dead_lettered, what="the dead letter of the event MongoDB refused")
    letter = await StoredDeadLetter.find_one(StoredDeadLetter.event_id == poison_id)
    assert letter is not None
    assert letter.service == name
    assert letter.attempts == 1  # what MongoDB cannot encode is not worth another try
    assert letter.reason.startswith("OverflowError")
    assert letter.payload == payload.decode(), "the raw payload is kept as it came"
    assert letter.envelope is None
    kept = letter.original_envelope()
    assert kept is not None
    assert kept["data"]["size_bytes"] == HUGE
    assert letter.problem is not None
    assert "JSON text" in letter.problem
    assert seen == [poison_id]
    await eventually(
        lambda: settled(name, outcome="dead-lettered") == 1, what="the delivery to end"
    )

    # Acknowledged: a new replica on the same persistent session gets only what came since.
    await first.stop()
    async with Publisher(settings=settings) as publisher:
        marker = await publisher.publish(uploaded(1))
    second = storing_service(name, settings, seen)
    services.append(second)
    await second.start()
    await eventually(lambda: marker.id in seen, what="the event sent while it was away")
    assert seen.count(poison_id) == 1, "the refused event came back"
    assert await StoredDeadLetter.find(StoredDeadLetter.event_id == poison_id).count() == 1


async def test_letters_the_store_refuses_are_kept_in_a_form_it_takes(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    service = Service(unique("letters"), settings=settings)  # opens the store
    services.append(service)
    await service.start()
    sink = MongoDeadLetters()
    _, payload = huge_upload()
    envelope = json.loads(payload)
    big_int = DeadLetter(
        service=service.name, topic=TOPIC, kind="failed", reason="OverflowError: 8-byte ints",
        event_id=envelope["id"], envelope=envelope, payload=payload.decode(),
    )  # fmt: skip
    not_utf8 = DeadLetter(
        service=service.name, topic=TOPIC, kind="failed", reason="bad \ud800",
        event_id="\udcff", envelope={"data": {"filename": "\ud800"}},
    )  # fmt: skip
    too_large = DeadLetter(
        service=service.name, topic=TOPIC, kind="poison", reason="not valid JSON",
        payload="x" * (17 * 1024 * 1024),
    )  # fmt: skip
    job = DeadLetter(
        service=service.name, topic="", kind="job", reason="job failed",
        job={"name": "inspect", "key": "k", "kwargs": {"pages": HUGE}},
    )  # fmt: skip

    for letter in (big_int, not_utf8, too_large, job):
        await sink.add(letter)

    stored = {
        letter.id: await StoredDeadLetter.get(letter.id)
        for letter in (big_int, not_utf8, too_large, job)
    }
    assert all(stored.values()), "every letter is stored"
    kept = stored[big_int.id]
    assert kept is not None
    assert kept.original_envelope() == envelope
    assert kept.payload == payload.decode()
    assert not kept.truncated
    kept = stored[not_utf8.id]
    assert kept is not None
    assert (kept.reason, kept.event_id) == ("bad \\ud800", "\\udcff")
    assert kept.original_envelope() == {"data": {"filename": "\ud800"}}
    kept = stored[too_large.id]
    assert kept is not None
    assert kept.truncated
    assert kept.payload == "x" * PAYLOAD_LIMIT
    kept = stored[job.id]
    assert kept is not None
    assert kept.original_job() == job.job
    for kept in stored.values():
        assert kept is not None
        assert kept.problem is not None
