"""The catalog against the real MongoDB-compatible store, and through the real broker."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from beanie.odm.utils.encoder import Encoder
from bson import Binary
from pymongo.errors import DuplicateKeyError

from bus import BusSettings, Envelope, Publisher, Service
from bus.journal import JournalEntry
from bus.mongo import connect_mongo, release_mongo
from bus.testing import in_memory
from contracts import (
    DocumentContentDeleted,
    DocumentFailed,
    DocumentInspected,
    DocumentReady,
    DocumentUploaded,
    Event,
    JobProgressed,
    QuotaExceeded,
    QuotaReleased,
    QuotaReserved,
)
from services.catalog import (
    AppliedEvent,
    AppliedEventBase,
    CatalogEntry,
    LoggedEvent,
    create_service,
    entry_of,
    find_document,
    list_documents,
    read_log,
    updates,
)
from services.catalog.history import REKEY, SLOTS, adopt_earlier_logs
from tests.helpers import eventually, settled

SHA = "ab" * 32
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

Step = tuple[Event, str, datetime]
"""An event, its envelope id and its envelope time."""

_APPLY: dict[type[Event], Callable[..., Awaitable[CatalogEntry | None]]] = {
    DocumentUploaded: updates.apply_uploaded,
    QuotaReserved: updates.apply_quota_reserved,
    JobProgressed: updates.apply_job_progressed,
    DocumentInspected: updates.apply_inspected,
    QuotaExceeded: updates.apply_quota_exceeded,
    DocumentFailed: updates.apply_failed,
    QuotaReleased: updates.apply_quota_released,
    DocumentContentDeleted: updates.apply_content_deleted,
}


async def apply(step: Step) -> CatalogEntry | None:
    event, event_id, at = step
    return await _APPLY[type(event)](event, event_id=event_id, at=at)


class Story:
    """The events of one document, each with its own id and a time one second apart."""

    def __init__(self, owner: str = "alice", email: str | None = "alice@example.com") -> None:
        self.document_id = uuid.uuid4()
        self.owner = owner
        self.email = email
        self.url = f"file:///tmp/chorus/{self.document_id}"

    def common(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "owner": self.owner,
            "owner_email": self.email,
            "filename": "report.pdf",
        }

    def uploaded(self) -> DocumentUploaded:
        return DocumentUploaded(
            **self.common(), size_bytes=1200, content_type="application/pdf", storage_url=self.url
        )

    def reserved(self) -> QuotaReserved:
        return QuotaReserved(
            **self.common(), size_bytes=1200, content_type="application/pdf",
            storage_url=self.url, documents_used=1, bytes_used=1200,
        )  # fmt: skip

    def progressed(self, percent: float, job: str = "inspect_document") -> JobProgressed:
        key = str(self.document_id)
        return JobProgressed(
            job_id=f"inspector:{job}:{key}", service="inspector", job=job, key=key,
            percent=percent, message=f"read {percent:g}%",
        )  # fmt: skip

    def inspected(self, details: dict[str, Any] | None = None) -> DocumentInspected:
        return DocumentInspected(
            **self.common(), content_type="application/pdf", sha256=SHA, size_bytes=1200,
            language="en", word_count=345, page_count=3, details=details or {"title": "Q3"},
        )  # fmt: skip

    def exceeded(self) -> QuotaExceeded:
        return QuotaExceeded(
            **self.common(), size_bytes=1200, storage_url=self.url, reason="quota full: 10 of 10"
        )

    def failed(self) -> DocumentFailed:
        return DocumentFailed(
            **self.common(), storage_url=self.url, stage="inspection", reason="not a PDF after all"
        )

    def released(self) -> QuotaReleased:
        return QuotaReleased(
            document_id=self.document_id, owner=self.owner, size_bytes=1200,
            documents_used=0, bytes_used=0,
        )  # fmt: skip

    def deleted(self, reason: str) -> DocumentContentDeleted:
        return DocumentContentDeleted(
            document_id=self.document_id, storage_url=self.url, reason=reason
        )

    @staticmethod
    def steps(events: Sequence[Event]) -> list[Step]:
        return [(e, str(uuid.uuid4()), T0 + timedelta(seconds=i)) for i, e in enumerate(events)]

    def happy(self) -> list[Step]:
        return self.steps(
            [
                self.uploaded(),
                self.reserved(),
                self.progressed(30),
                self.progressed(80),
                self.inspected(),
            ]
        )


@pytest.fixture
async def catalog(settings: BusSettings) -> AsyncIterator[None]:
    await connect_mongo(settings.mongo_url, [CatalogEntry, LoggedEvent, AppliedEvent])
    yield
    await release_mongo(settings.mongo_url)


async def stored(document_id: uuid.UUID) -> CatalogEntry:
    entry = await CatalogEntry.get(document_id)
    assert entry is not None
    return entry


@pytest.mark.usefixtures("catalog")
async def test_the_happy_order_ends_ready_with_its_timeline_and_inspection() -> None:
    story = Story()
    steps = story.happy()
    statuses = []
    for step in steps:
        entry = await apply(step)
        assert entry is not None
        statuses.append(entry.status)

    assert statuses == ["uploaded", "accepted", "inspecting", "inspecting", "ready"]
    entry = await stored(story.document_id)
    assert entry.status == "ready"
    assert entry.terminal
    assert entry.rank == 3
    assert entry.reason is None
    assert entry.progress == 100.0
    assert [t.event_id for t in entry.timeline] == [event_id for _, event_id, _ in steps]
    assert [t.status for t in entry.timeline] == statuses
    assert [t.percent for t in entry.timeline][2:4] == [30, 80]
    assert entry.timeline[2].message == "read 30%"
    assert entry.timeline[0].at == T0
    assert entry.inspection is not None
    assert entry.inspection["sha256"] == SHA
    assert entry.inspection["language"] == "en"
    assert entry.inspection["page_count"] == 3
    assert entry.inspection["details"] == {"title": "Q3"}
    assert entry.owner == "alice"
    assert entry.owner_email == "alice@example.com"
    assert entry.declared_content_type == "application/pdf"
    assert entry.size_bytes == 1200
    assert entry.storage_url == story.url
    assert entry.status_event_id == steps[-1][1]
    assert entry.created_at <= entry.updated_at


@pytest.mark.usefixtures("catalog")
async def test_any_arrival_order_ends_the_same_and_never_goes_back() -> None:
    stories = []
    for order in ("reversed", "shuffled-1", "shuffled-2", "shuffled-3"):
        story = Story()
        steps = story.happy()
        arrival = list(reversed(steps))
        if order != "reversed":
            random.Random(order).shuffle(arrival)
        ranks = []
        for step in arrival:
            entry = await apply(step)
            assert entry is not None
            ranks.append(entry.rank)
        assert ranks == sorted(ranks), f"{order}: the rank went back: {ranks}"
        stories.append((story, steps))

    for story, steps in stories:
        entry = await stored(story.document_id)
        assert entry.status == "ready"
        assert entry.progress == 100.0
        # The timeline is in event time, whatever the arrival order.
        assert [t.event_id for t in entry.timeline] == [event_id for _, event_id, _ in steps]
        assert entry.inspection is not None
        assert entry.inspection["content_type"] == "application/pdf"
        assert entry.owner_email == "alice@example.com"


@pytest.mark.usefixtures("catalog")
async def test_every_event_applied_twice_is_in_the_timeline_once() -> None:
    story = Story()
    steps = story.happy()
    for step in [*steps, *reversed(steps)]:
        await apply(step)

    entry = await stored(story.document_id)
    assert entry.status == "ready"
    assert [t.event_id for t in entry.timeline] == [event_id for _, event_id, _ in steps]
    assert len(await read_log(story.document_id)) == 5


@pytest.mark.usefixtures("catalog")
async def test_events_of_one_document_applied_all_at_once_lose_nothing() -> None:
    # What several subscriptions and replicas do: on FerretDB 1.24 in-place updates
    # of one document at the same moment overwrite each other; the log does not.
    jitter = random.Random(7)

    async def apply_soon(step: Step, delay: float) -> CatalogEntry | None:
        await asyncio.sleep(delay)
        return await apply(step)

    for _ in range(6):
        story = Story()
        steps = story.happy() + story.steps([story.released(), story.deleted("cleanup")])
        results = await asyncio.gather(
            *(apply_soon(step, jitter.uniform(0, 0.03)) for step in [*steps, *steps])
        )
        assert all(r is not None for r in results)

        entry = await stored(story.document_id)
        assert entry.status == "ready"
        assert sorted(t.event_id for t in entry.timeline) == sorted(e for _, e, _ in steps)


@pytest.mark.usefixtures("catalog")
async def test_a_refused_document_is_rejected_with_the_reason() -> None:
    story = Story()
    steps = story.steps([story.uploaded(), story.exceeded(), story.deleted("refused: quota full")])
    for step in steps:
        await apply(step)

    entry = await stored(story.document_id)
    assert entry.status == "rejected"
    assert entry.reason == "quota full: 10 of 10"
    assert entry.inspection is None
    assert entry.progress is None
    assert [t.status for t in entry.timeline] == ["uploaded", "rejected", "rejected"]
    assert entry.timeline[2].message == "content deleted: refused: quota full"


@pytest.mark.usefixtures("catalog")
async def test_a_failed_document_stays_failed_whatever_comes_after() -> None:
    story = Story()
    steps = story.steps(
        [
            story.uploaded(),
            story.reserved(),
            story.progressed(40),
            story.failed(),
            story.released(),
            story.deleted("inspection failed"),
        ]
    )
    # The release and the deletion arrive first, the progress last.
    for step in [steps[4], steps[5], steps[0], steps[1], steps[3], steps[2]]:
        await apply(step)

    entry = await stored(story.document_id)
    assert entry.status == "failed"
    assert entry.reason == "not a PDF after all"
    assert entry.progress == 40
    assert [t.event_type for t in entry.timeline] == [
        "documents.uploaded.v1",
        "accounts.quota_reserved.v1",
        "jobs.progressed.v1",
        "documents.failed.v1",
        "accounts.quota_released.v1",
        "documents.content_deleted.v1",
    ]
    assert entry.timeline[3].message == "failed at inspection: not a PDF after all"


@pytest.mark.usefixtures("catalog")
async def test_progress_of_other_jobs_and_foreign_keys_is_ignored() -> None:
    story = Story()
    await apply(story.steps([story.uploaded()])[0])
    other_job = story.progressed(50, job="thumbnail")
    assert await apply((other_job, "p1", T0)) is None
    not_a_document = JobProgressed(
        job_id="x", service="inspector", job="inspect_document", key="not-a-uuid", percent=5
    )
    assert await apply((not_a_document, "p2", T0)) is None

    entry = await stored(story.document_id)
    assert entry.status == "uploaded"
    assert len(entry.timeline) == 1
    assert await LoggedEvent.count() == 1


@pytest.mark.usefixtures("catalog")
async def test_an_entry_started_by_a_late_event_fills_in_when_the_upload_arrives() -> None:
    story = Story(email=None)
    steps = story.happy()
    entry = await apply(steps[2])  # progress first: nothing known about the document yet
    assert entry is not None
    assert (entry.status, entry.owner, entry.filename) == ("inspecting", None, None)
    assert await find_document(story.document_id, "alice") is None

    await apply(steps[0])
    entry = await stored(story.document_id)
    assert entry.status == "inspecting"
    assert (entry.owner, entry.filename, entry.size_bytes) == ("alice", "report.pdf", 1200)
    assert entry.owner_email is None


@pytest.mark.usefixtures("catalog")
async def test_inspection_details_with_keys_mongodb_refuses_are_kept() -> None:
    story = Story()
    details = {"pdf.version": "1.7", "$producer": "x", "fonts": [{"name.bold": True}]}
    await apply(story.steps([story.inspected(details)])[0])

    entry = await stored(story.document_id)
    assert entry.inspection is not None
    assert entry.inspection["details"] == {
        "pdf\uff0eversion": "1.7",
        "\uff04producer": "x",
        "fonts": [{"name\uff0ebold": True}],
    }


@pytest.mark.usefixtures("catalog")
async def test_find_document_hides_the_documents_of_other_owners() -> None:
    alice, bob = Story("alice"), Story("bob", "bob@example.com")
    for story in (alice, bob):
        for step in story.happy()[:2]:
            await apply(step)
    newer = Story("alice")
    await apply((newer.uploaded(), "late", T0 + timedelta(hours=1)))

    found = await find_document(alice.document_id, "alice")
    assert found is not None
    assert found.id == alice.document_id
    assert await find_document(alice.document_id, "bob") is None
    assert await find_document(bob.document_id, "alice") is None
    assert await find_document(uuid.uuid4(), "alice") is None

    listed = await list_documents("alice")
    assert [e.id for e in listed] == [newer.document_id, alice.document_id]
    assert [e.id for e in await list_documents("alice", limit=1)] == [newer.document_id]
    assert [e.id for e in await list_documents("bob")] == [bob.document_id]
    assert await list_documents("carol") == []


@pytest.mark.usefixtures("catalog")
async def test_handling_an_inspection_again_publishes_document_ready_again_under_one_id(
    settings: BusSettings, unique: Callable[[str], str]
) -> None:
    # A run that stopped between the update and the publish: the next run must
    # still announce, under the same id, so that consumers can skip a repeat.
    service = create_service(unique("catalog"), settings)
    story = Story()
    inspected = story.inspected()
    async with in_memory(service) as bus:
        first = await bus.publish(story.uploaded())
        await bus.publish(story.reserved(), cause=first)
        handled = await bus.publish(inspected, cause=first)
        await bus.publish_envelope(handled)
        # Another inspection of a document that is ready already announces nothing.
        await bus.publish(inspected, cause=first)

    ready = bus.of_type(DocumentReady)
    assert len(ready) == 2
    assert ready[0].id == ready[1].id
    assert ready[0].causationid == handled.id
    assert ready[0].correlationid == first.id
    assert ready[0].data == {
        "document_id": str(story.document_id),
        "owner": "alice",
        "owner_email": "alice@example.com",
        "filename": "report.pdf",
        "content_type": "application/pdf",
        "language": "en",
    }
    assert bus.dead_letters.letters == {}


async def test_the_service_catalogues_events_from_the_broker_and_announces_ready(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    service = create_service(unique("catalog"), settings)
    services.append(service)
    await service.start()

    story, refused = Story(), Story("bob", None)
    async with Publisher(settings=settings) as publisher:
        first = await publisher.publish(story.uploaded())
        for event in (story.reserved(), story.progressed(50)):
            await publisher.publish(event, cause=first)
        inspected = await publisher.publish(story.inspected(), cause=first)
        await publisher.publish_envelope(inspected)  # delivered twice
        await publisher.publish(refused.uploaded())
        await publisher.publish(refused.exceeded())

    async def ready() -> bool:
        entry = await CatalogEntry.get(story.document_id)
        return entry is not None and entry.status == "ready"

    async def rejected() -> bool:
        entry = await CatalogEntry.get(refused.document_id)
        return entry is not None and entry.status == "rejected"

    await eventually(ready, what="the document to become ready")
    await eventually(rejected, what="the refused document to be rejected")

    async def announced() -> list[JournalEntry]:
        return await JournalEntry.find(JournalEntry.type == "documents.ready.v1").to_list()

    await eventually(lambda: _non_empty(announced()), what="DocumentReady in the journal")
    # Each of the seven deliveries ended, the copy of the inspection included: a second
    # announcement would be in the journal by then (published journal first).
    await eventually(lambda: settled(service.name) >= 7, what="all seven deliveries to end")
    entries = await announced()
    assert len(entries) == 1
    envelope = Envelope.model_validate(entries[0].envelope)
    # The inspection announces; so does the upload's handler when, still writing the entry,
    # it already finds the inspection logged (one id: the first to land is kept).
    assert envelope.causationid in {inspected.id, first.id}
    assert envelope.correlationid == first.id
    assert envelope.source == service.source
    assert DocumentReady.model_validate(envelope.data).document_id == story.document_id

    entry = await find_document(story.document_id, "alice")
    assert entry is not None
    assert [t.status for t in entry.timeline] == ["uploaded", "accepted", "inspecting", "ready"]


async def _non_empty(entries: Awaitable[list[JournalEntry]]) -> bool:
    return len(await entries) > 0


@pytest.mark.usefixtures("catalog")
async def test_logs_kept_by_earlier_versions_are_adopted_once() -> None:
    # The first versions kept one record per event in catalog_applied; the next ones
    # numbered slots "<document id>/<n>" in catalog_log (an event twice, at worst).
    story, other, slotted = Story(), Story(), Story()
    adopted = 0
    for who, steps in ((story, story.happy()[:3]), (other, other.happy()[:1])):
        for n, (event, event_id, at) in enumerate(steps):
            await AppliedEvent(**_earlier(who, n, event, event_id, at).model_dump()).insert()
            adopted += 1
    slots = LoggedEvent.get_pymongo_collection().database[SLOTS]
    for n, (event, event_id, at) in enumerate(slotted.happy()[:2]):
        earlier = _earlier(slotted, n, event, event_id, at).model_dump()
        earlier["document_id"] = Binary.from_uuid(slotted.document_id)  # as Beanie stored it
        await slots.insert_one({"_id": f"{slotted.document_id}/{n}", "event": earlier})
        adopted += 1
    await slots.insert_one({"_id": f"{slotted.document_id}/2", "event": earlier})  # a copy
    # An entry written before entries had a key.
    await apply(story.steps([story.uploaded()])[0])
    await CatalogEntry.get_pymongo_collection().update_many({}, {"$unset": {"key": ""}})
    assert await entry_of(story.document_id) is None
    await LoggedEvent.delete_all()

    assert await adopt_earlier_logs() == adopted
    assert await adopt_earlier_logs() == 0  # once: the log is no longer empty
    logged = await read_log(story.document_id)
    assert [e.message for e in logged] == ["step 0", "step 1", "step 2"]
    assert len(await read_log(other.document_id)) == 1
    assert [e.message for e in await read_log(slotted.document_id)] == ["step 0", "step 1"]
    keyed = await entry_of(story.document_id)
    assert keyed is not None
    assert keyed.key == str(story.document_id)

    # New events are logged with the adopted ones, and the entry folds them all.
    last_event, last_id, last_at = story.happy()[4]
    await apply((last_event, last_id, last_at))
    entry = await stored(story.document_id)
    assert entry.status == "ready"
    assert len(entry.timeline) == 4


@pytest.mark.usefixtures("catalog")
async def test_entries_kept_aside_by_a_start_that_stopped_are_put_back() -> None:
    story = Story()
    await apply(story.steps([story.uploaded()])[0])
    entry = await stored(story.document_id)
    collection = CatalogEntry.get_pymongo_collection()
    aside = collection.database[REKEY]
    await aside.insert_one(Encoder().encode(entry))
    await collection.delete_many({})  # the earlier start stopped right after its delete

    await adopt_earlier_logs()

    restored = await entry_of(story.document_id)
    assert restored is not None
    assert restored.key == str(story.document_id)
    assert await aside.count_documents({}) == 0


def _earlier(who: Story, n: int, event: Event, event_id: str, at: datetime) -> AppliedEventBase:
    return AppliedEventBase(
        id=event_id, document_id=who.document_id, event_type=event.contract.type, at=at,
        status="uploaded" if n == 0 else "accepted" if n == 1 else "inspecting",
        message=f"step {n}", recorded_at=T0 + timedelta(seconds=n),
    )  # fmt: skip


@pytest.mark.usefixtures("catalog")
async def test_an_entry_held_under_another_key_fails_the_write_instead_of_looping() -> None:
    story = Story()
    await apply(story.happy()[0])
    # What a mixed-version rollout could leave: the document's _id under another key.
    collection = CatalogEntry.get_pymongo_collection()
    held = {"_id": Binary.from_uuid(story.document_id)}
    await collection.update_one(held, {"$set": {"key": "x"}})
    with pytest.raises(DuplicateKeyError):
        await asyncio.wait_for(updates.refresh(story.document_id), timeout=10)
