"""The inspector's handler and job, with their dependencies replaced: no Redis, no broker.

The handler runs on the in-memory broker with ``enqueue`` captured; the job is called
directly with a :class:`JobContext` whose ``publish`` collects the events.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bus import Envelope, JobContext, Service
from bus.testing import in_memory
from contracts import DocumentFailed, DocumentInspected, Event, JobProgressed, QuotaReserved
from services.inspector import InspectorSettings, create_service
from services.inspector.service import InspectionRequest
from services.storage import LocalStorage

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def reserved(storage: LocalStorage, name: str = "english.txt", **changes: Any) -> QuotaReserved:
    document_id = uuid.uuid4()
    event = QuotaReserved(
        document_id=document_id, owner="alice", owner_email="alice@example.com",
        filename=name, size_bytes=100, content_type="text/plain",
        storage_url=storage.url_for(document_id), documents_used=1, bytes_used=100,
    )  # fmt: skip
    return event.model_copy(update=changes)


async def store(storage: LocalStorage, event: QuotaReserved, data: bytes) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield data

    await storage.write(event.document_id, chunks())


class Run:
    """One call of the inspection job, and what it published."""

    def __init__(self, service: Service) -> None:
        [self.job] = service.jobs
        self.published: list[Event] = []

    async def __call__(self, event: QuotaReserved) -> Any:
        async def publish(published: Event) -> Envelope:
            self.published.append(published)
            return Envelope.wrap(published, source="/test/1")

        key = str(event.document_id)
        context = JobContext(
            service="inspector", job=self.job.name, key=key, job_id=f"inspector:job:{key}",
            attempt=1, cause=None, publish=publish,
        )  # fmt: skip
        kwargs = InspectionRequest.from_event(event).model_dump(mode="json")
        return await self.job.func(context, **kwargs)

    def progress(self) -> list[tuple[float, str]]:
        return [(e.percent, e.message) for e in self.published if isinstance(e, JobProgressed)]

    def outcome(self) -> Event:
        return self.published[-1]


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path)


async def test_the_handler_asks_for_one_job_keyed_by_the_document(storage: LocalStorage) -> None:
    service = create_service("inspector", storage=storage)
    asked: list[tuple[object, str, dict[str, Any]]] = []

    async def enqueue(job: object, *, key: str, **kwargs: Any) -> bool:
        asked.append((job, key, kwargs))
        return True

    service.enqueue = enqueue  # type: ignore[method-assign]
    event = reserved(storage, content_type="application/x-whatever")
    async with in_memory(service) as bus:
        await bus.publish(event)
    assert not bus.dead_letters.letters
    [(job, key, kwargs)] = asked
    assert job is service.jobs[0].func
    assert key == str(event.document_id)
    assert kwargs == {
        "document_id": str(event.document_id), "owner": "alice",
        "owner_email": "alice@example.com", "filename": "english.txt",
        "storage_url": event.storage_url, "size_bytes": 100,
        "declared_content_type": "application/x-whatever",
    }  # fmt: skip


async def test_the_job_reports_progress_then_the_inspection(storage: LocalStorage) -> None:
    run = Run(create_service("inspector", storage=storage))
    event = reserved(storage, "report.pdf", content_type="text/plain")
    await store(storage, event, (SAMPLES / "report.pdf").read_bytes())

    result = await run(event)

    assert [percent for percent, _ in run.progress()] == [10, 30, 60, 85, 100]
    assert run.progress()[1][1] == "detected application/pdf"
    assert "2 pages" in run.progress()[2][1]
    inspected = run.outcome()
    assert isinstance(inspected, DocumentInspected)
    assert inspected.document_id == event.document_id
    assert inspected.owner_email == "alice@example.com"
    assert (inspected.content_type, inspected.page_count, inspected.language) == (
        "application/pdf", 2, "en",
    )  # fmt: skip
    assert inspected.details["declared_content_type"] == "text/plain"
    assert result == {"outcome": "inspected", "content_type": "application/pdf", "language": "en"}


@pytest.mark.parametrize(
    ("sample", "reason"),
    [
        ("corrupt.pdf", "the PDF is corrupt or unreadable"),
        (None, "the stored file is gone"),
        (b"", "the file is empty"),
        (b"PK\x05\x06" + bytes(18), "unsupported content type application/zip"),
    ],
    ids=["corrupt", "missing", "empty", "zip"],
)
async def test_expected_failures_publish_document_failed_and_end_the_job(
    storage: LocalStorage, sample: str | bytes | None, reason: str
) -> None:
    run = Run(create_service("inspector", storage=storage))
    event = reserved(storage, "upload.pdf")
    if sample is not None:
        data = sample if isinstance(sample, bytes) else (SAMPLES / sample).read_bytes()
        await store(storage, event, data)

    result = await run(event)

    failed = run.outcome()
    assert isinstance(failed, DocumentFailed)
    assert failed.stage == "inspection"
    assert failed.reason.startswith(reason)
    assert (failed.document_id, failed.filename) == (event.document_id, "upload.pdf")
    assert result == {"outcome": "failed", "reason": failed.reason}
    assert not any(isinstance(e, DocumentInspected) for e in run.published)


async def test_a_file_declared_too_large_is_not_even_read(storage: LocalStorage) -> None:
    service = create_service("inspector", storage=storage, config=InspectorSettings(max_bytes=50))
    run = Run(service)
    event = reserved(storage, size_bytes=51)  # nothing stored: reading would fail differently

    await run(event)

    failed = run.outcome()
    assert isinstance(failed, DocumentFailed)
    assert failed.reason.startswith("the file is too large to inspect (51 bytes, at most 50)")


async def test_an_unexpected_error_propagates_for_the_bus_to_retry(storage: LocalStorage) -> None:
    class BrokenStorage(LocalStorage):
        async def read(self, url: str) -> bytes:
            raise ConnectionError("storage is down")

    run = Run(create_service("inspector", storage=BrokenStorage(storage.root)))
    with pytest.raises(ConnectionError, match="storage is down"):
        await run(reserved(storage))
    assert run.published == []
