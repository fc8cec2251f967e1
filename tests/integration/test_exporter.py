"""The exporter against the real stack: ExportRequested in, one job per export, the
archive in storage, its record in MongoDB, its events out.

The catalog's entries are written here as the catalog would have them (the exporter only
reads them); what the exporter publishes is read back from the journal, which
``Service.publish`` writes before it sends (journal-first).
"""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bus import BusSettings, Publisher, Service
from bus.journal import JournalEntry
from contracts import ExportRequested
from services.catalog import CatalogEntry, Status
from services.exporter import ExporterSettings, ExportRecord, create_service
from services.storage import LocalStorage
from tests.helpers import eventually, jobs_finished, settled


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "blobs")


async def catalogued(
    storage: LocalStorage, owner: str, filename: str, data: bytes, status: Status = "ready"
) -> CatalogEntry:
    """A document's bytes in storage and its catalog entry."""
    document_id = uuid.uuid4()

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    url, size = await storage.write(document_id, chunks())
    now = datetime.now(UTC)
    entry = CatalogEntry(
        id=document_id, owner=owner, filename=filename, size_bytes=size, storage_url=url,
        status=status, created_at=now, updated_at=now,
    )  # fmt: skip
    await entry.insert()
    return entry


async def journaled(event_type: str, export_id: uuid.UUID) -> list[dict[str, Any]]:
    entries = await JournalEntry.find({"type": event_type}).to_list()
    key = str(export_id)
    return [
        e.envelope["data"]
        for e in entries
        if key in (e.envelope["data"].get("export_id"), e.envelope["data"].get("key"))
    ]


async def started(services: list[Service], service: Service) -> Service:
    services.append(service)
    await service.start(work=True)
    return service


async def test_an_export_is_written_once_with_progress_per_document(
    settings: BusSettings,
    services: list[Service],
    unique: Callable[[str], str],
    storage: LocalStorage,
) -> None:
    name = unique("exporter")
    await started(services, create_service(name, settings, storage=storage))
    first = await catalogued(storage, "alice", "a.txt", b"first" * 1000)
    second = await catalogued(storage, "alice", "b.txt", b"second" * 1000)
    await catalogued(storage, "alice", "c.txt", b"not yet", status="inspecting")
    await catalogued(storage, "bob", "d.txt", b"bob's")
    request = ExportRequested(export_id=uuid.uuid4(), owner="alice")
    async with Publisher(settings=settings) as publisher:
        await publisher.publish(request)
        await publisher.publish(request)  # asked for twice (another event id): one job

    await eventually(lambda: settled(name) >= 2, within=30, what="both requests handled")
    await eventually(lambda: jobs_finished(name), within=30, what="the job to finish")
    record = await ExportRecord.find_one({"key": str(request.export_id)})
    assert record is not None
    assert record.status == "ready", record
    assert (record.document_count, record.documents_done, record.progress) == (2, 2, 100.0)
    assert record.expires_at is not None
    assert record.ready_at is not None
    assert record.expires_at - record.ready_at == timedelta(seconds=ExporterSettings().ttl)

    archive = storage.root / "exports" / f"{request.export_id}.tar.gz"
    assert record.storage_url == archive.as_uri()
    assert record.size_bytes == archive.stat().st_size
    assert not archive.with_name(archive.name + ".part").exists()
    with tarfile.open(fileobj=io.BytesIO(archive.read_bytes()), mode="r:gz") as tar:
        names = {m.name.split("/", 1)[1]: m for m in tar.getmembers()}
        assert sorted(names) == ["a.txt", "b.txt"]
        assert tar.extractfile(names["a.txt"]).read() == b"first" * 1000  # type: ignore[union-attr]

    [ready] = await journaled("exports.ready.v1", request.export_id)
    assert (ready["document_count"], ready["size_bytes"], ready["sha256"]) == (
        2, record.size_bytes, record.sha256,
    )  # fmt: skip
    progress = await journaled("jobs.progressed.v1", request.export_id)
    assert first.created_at < second.created_at  # oldest first
    assert [(p["percent"], p["message"]) for p in sorted(progress, key=lambda p: p["percent"])] == [
        (0.0, "2 ready documents to archive"), (50.0, "1/2: a.txt"), (100.0, "2/2: b.txt"),
    ]  # fmt: skip


async def test_an_export_that_cannot_be_written_fails_once_and_leaves_nothing(
    settings: BusSettings,
    services: list[Service],
    unique: Callable[[str], str],
    storage: LocalStorage,
) -> None:
    name = unique("exporter")
    config = ExporterSettings(job_attempts=2)
    await started(services, create_service(name, settings, config, storage=storage))
    await catalogued(storage, "carol", "a.txt", b"data")
    (storage.root / "exports").write_bytes(b"a file where the folder of archives goes")
    request = ExportRequested(export_id=uuid.uuid4(), owner="carol")
    async with Publisher(settings=settings) as publisher:
        await publisher.publish(request)

    async def failed() -> bool:
        return bool(await journaled("exports.failed.v1", request.export_id))

    await eventually(failed, within=30, what="ExportFailed")
    [event] = await journaled("exports.failed.v1", request.export_id)
    assert event["owner"] == "carol"
    assert "the archive could not be written" in event["reason"]
    record = await ExportRecord.find_one({"key": str(request.export_id)})
    assert record is not None
    assert record.status == "failed"
    assert record.reason == event["reason"]
    assert [p.name for p in storage.root.rglob("*.part")] == []
