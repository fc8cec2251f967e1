"""The inspector against the real stack: QuotaReserved in, one job per document, events out.

What the inspector publishes is read back from the journal, which ``Service.publish``
writes before it sends (journal-first), so no journal service needs to run.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bus import BusSettings, Envelope, Publisher, Service
from bus.journal import JournalEntry
from contracts import QuotaReserved
from services.inspector import create_service
from services.storage import LocalStorage
from tests.helpers import eventually, jobs_finished, settled

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "blobs")


async def stored(storage: LocalStorage, name: str, data: bytes | None = None) -> QuotaReserved:
    """A document's bytes written to storage (unless ``data`` is ``b"-"``: never stored),
    and the QuotaReserved that announces it."""
    document_id = uuid.uuid4()
    if data is None:
        data = (SAMPLES / name).read_bytes()
    url = storage.url_for(document_id)
    if data != b"-":

        async def chunks() -> AsyncIterator[bytes]:
            yield data

        url, _ = await storage.write(document_id, chunks())
    return QuotaReserved(
        document_id=document_id, owner="alice", owner_email="alice@example.com",
        filename=name, size_bytes=len(data), content_type="application/octet-stream",
        storage_url=url, documents_used=1, bytes_used=len(data),
    )  # fmt: skip


async def journal(event_type: str) -> list[dict[str, Any]]:
    entries = await JournalEntry.find(JournalEntry.type == event_type).to_list()
    return [entry.envelope for entry in entries]


async def by_document(event_type: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for envelope in await journal(event_type):
        found.setdefault(envelope["data"]["document_id"], []).append(envelope)
    return found


async def all_done(name: str, *, deliveries: int) -> None:
    """Wait until each delivery to the inspector ``name`` ended and every job it queued
    finished: a second run would be queued while a delivery is handled, and its events
    would be in the journal (published journal first) once it finished."""
    await eventually(
        lambda: settled(name) >= deliveries, within=30, what=f"{deliveries} deliveries to end"
    )
    await eventually(lambda: jobs_finished(name), within=30, what="every queued job to finish")


async def start(services: list[Service], *replicas: Service) -> None:
    for replica in replicas:
        services.append(replica)
        await replica.start(work=True)


async def test_documents_are_inspected_or_failed_with_progress_along_the_way(
    settings: BusSettings,
    services: list[Service],
    unique: Callable[[str], str],
    storage: LocalStorage,
) -> None:
    inspector = unique("inspector")
    await start(services, create_service(inspector, settings, storage=storage))
    good = {
        name: await stored(storage, name)
        for name in ("english.txt", "german.txt", "report.pdf", "pixel.png")
    }
    bad = {
        "corrupt.pdf": await stored(storage, "corrupt.pdf"),
        "missing.txt": await stored(storage, "missing.txt", b"-"),
        "app.zip": await stored(storage, "app.zip", b"PK\x05\x06" + bytes(18)),
    }
    async with Publisher(settings=settings) as publisher:
        sent = {name: await publisher.publish(event) for name, event in {**good, **bad}.items()}

    async def all_final() -> bool:
        done = len(await journal("documents.inspected.v1"))
        failed = len(await journal("documents.failed.v1"))
        return done + failed >= len(sent)

    await eventually(all_final, within=60, what="every document to be inspected or failed")
    # JobSucceeded is published once the job returned, after its DocumentInspected/Failed.
    await all_done(inspector, deliveries=len(sent))
    inspected = await by_document("documents.inspected.v1")
    failed = await by_document("documents.failed.v1")
    progress: dict[str, list[dict[str, Any]]] = {}  # JobProgressed carries the job key
    for envelope in await journal("jobs.progressed.v1"):
        progress.setdefault(envelope["data"]["key"], []).append(envelope)

    expected = {
        "english.txt": ("text/plain", "en", None),
        "german.txt": ("text/plain", "de", None),
        "report.pdf": ("application/pdf", "en", 2),
        "pixel.png": ("image/png", None, None),
    }
    for name, (content_type, language, pages) in expected.items():
        document_id = str(good[name].document_id)
        [envelope] = inspected[document_id]
        data = envelope["data"]
        assert (data["content_type"], data["language"], data["page_count"]) == (
            content_type, language, pages,
        ), name  # fmt: skip
        assert data["details"]["declared_content_type"] == "application/octet-stream"
        assert data["size_bytes"] == good[name].size_bytes
        # The job's events continue the chain of the QuotaReserved that asked for it.
        assert envelope["causationid"] == sent[name].id
        assert envelope["correlationid"] == sent[name].correlationid
        steps = sorted(progress[document_id], key=lambda e: e["time"])
        percents = [e["data"]["percent"] for e in steps]
        assert percents == [10, 30, 60, 85, 100], name
        assert all(e["causationid"] == sent[name].id for e in steps)

    reasons = {name: failed[str(event.document_id)][0]["data"] for name, event in bad.items()}
    assert all(data["stage"] == "inspection" for data in reasons.values())
    assert reasons["corrupt.pdf"]["reason"].startswith("the PDF is corrupt or unreadable")
    assert reasons["missing.txt"]["reason"].startswith("the stored file is gone")
    assert reasons["app.zip"]["reason"].startswith("unsupported content type application/zip")
    assert not set(failed) & set(inspected)

    # Expected failures end the job normally: a JobSucceeded each, no JobFailed, no retries.
    succeeded = await journal("jobs.succeeded.v1")
    assert len(succeeded) == len(sent)
    assert all(e["data"]["attempts"] == 1 for e in succeeded)
    assert await journal("jobs.failed.v1") == []


async def test_the_same_document_asked_for_three_times_is_inspected_once(
    settings: BusSettings,
    services: list[Service],
    unique: Callable[[str], str],
    storage: LocalStorage,
) -> None:
    name = unique("inspector")
    await start(services, create_service(name, settings, storage=storage))
    event = await stored(storage, "english.txt")
    async with Publisher(settings=settings) as publisher:
        first = await publisher.publish(event)
        await publisher.publish_envelope(first)  # a redelivery: the same event id
        await publisher.publish(event)  # the same document in a new event

    async def inspected() -> bool:
        return len(await journal("documents.inspected.v1")) >= 1

    await eventually(inspected, within=30, what="the document to be inspected")
    await all_done(name, deliveries=3)
    assert len(await journal("documents.inspected.v1")) == 1
    assert len(await journal("jobs.succeeded.v1")) == 1
    assert len(await journal("jobs.progressed.v1")) == 5


async def test_two_replicas_inspect_ten_documents_once_each(
    settings: BusSettings,
    services: list[Service],
    unique: Callable[[str], str],
    storage: LocalStorage,
) -> None:
    name = unique("inspector")
    replicas = [
        create_service(name, settings.model_copy(update={"instance": i}), storage=storage)
        for i in ("a", "b")
    ]
    await start(services, *replicas)
    samples = ["english.txt", "german.txt", "report.pdf", "pixel.png"]
    events = [await stored(storage, samples[n % len(samples)]) for n in range(10)]
    async with Publisher(settings=settings) as publisher:
        sent: list[Envelope] = []
        for event in events:
            sent.append(await publisher.publish(event))
            await publisher.publish(event)  # asked twice each, as new events

    async def all_inspected() -> bool:
        return len(await journal("documents.inspected.v1")) >= 10

    await eventually(all_inspected, within=60, what="10 documents to be inspected")
    await all_done(name, deliveries=20)
    inspected = await by_document("documents.inspected.v1")
    assert set(inspected) == {str(event.document_id) for event in events}
    assert Counter(len(each) for each in inspected.values()) == Counter({1: 10})
    sources = Counter(each[0]["source"] for each in inspected.values())
    print(f"10 documents over 2 replicas, inspected by: {dict(sources)}")
    assert set(sources) <= {f"/{name}/a", f"/{name}/b"}
