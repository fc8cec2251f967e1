"""The exporter: a user's ready documents as one tar.gz, written by a job.

Consumes: ExportRequested. Produces: ExportReady, ExportFailed, ExportExpired (and
JobProgressed, JobSucceeded/JobFailed from the bus).

It reads the catalog's collection (read-only) for the owner's ready documents, and keeps
its own read model of each export (the ``exports`` collection) for the gateway to read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from pymongo.errors import DuplicateKeyError

from bus import BusSettings, GaveUp, JobContext, RetryPolicy, Service
from bus.mongo import save_by_key
from contracts import ExportExpired, ExportFailed, ExportReady, ExportRequested
from services.catalog import CatalogEntry
from services.exporter.archive import ArchiveWriter, Written
from services.exporter.config import ExporterSettings
from services.exporter.files import archive_path, download_name, local_path
from services.exporter.models import ExportRecord
from services.storage import BlobStorage, open_storage

log = logging.getLogger("services.exporter")

_EVENT_IDS = uuid.UUID("6f1d2a8e-3b4c-4f0e-8a7d-2c5e9b1f0a34")


def outcome_event_id(service: str, outcome: str, export_id: UUID) -> str:
    """The one id of an export's ``ready``, ``failed`` or ``expired`` event, whichever
    path publishes it and however often: consumers skip the repeats."""
    return str(uuid.uuid5(_EVENT_IDS, f"{service}|exports.{outcome}|{export_id}"))


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    # MongoDB keeps UTC without a zone: what comes back is naive.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def export_record(export_id: UUID) -> ExportRecord | None:
    """The export's record, whoever owns it."""
    return await ExportRecord.find_one({"key": str(export_id)})


async def _update(record: ExportRecord, **changes: Any) -> None:
    for field, value in changes.items():
        setattr(record, field, value)
    record.updated_at = _now()
    await save_by_key(record)


async def ready_documents(owner: str) -> list[CatalogEntry]:
    """The owner's ready documents (the catalog's entries), oldest first."""
    entries = await CatalogEntry.find({"owner": owner, "status": "ready"}).to_list()
    return sorted(entries, key=lambda entry: (_aware(entry.created_at), str(entry.id)))


def create_service(
    name: str = "exporter",
    settings: BusSettings | None = None,
    config: ExporterSettings | None = None,
    storage: BlobStorage | None = None,
) -> Service:
    """The exporter: one deduplicated job per export, and an hourly purge.

    The job (keyed by export id: a redelivered request or a second replica asks for it
    in vain) lists the owner's ready documents in the catalog, streams their bytes into
    ``<storage>/exports/<id>.tar.gz`` (a ``.part`` file renamed when complete), reporting
    progress after each document (``JobProgressed`` and the record), then publishes
    :class:`~contracts.ExportReady` with the archive's size, document count, SHA-256 and
    expiry (``config.ttl`` from then). A job out of tries or time fails the export
    (:class:`~contracts.ExportFailed`, its partial file deleted). The scheduled purge
    (``config.purge_schedule``) deletes the archives past their expiry and publishes
    :class:`~contracts.ExportExpired` for each.

    Args:
        name: The service's name (its queue and shared subscription).
        settings: Bus connections; default: from the environment.
        config: ``EXPORTER_*`` from the environment by default.
        storage: Where documents are and archives go; default: ``STORAGE_ROOT``.
    """
    config = config or ExporterSettings()
    blobs = storage or open_storage()
    service = Service(
        name,
        settings=settings,
        documents=[ExportRecord, CatalogEntry],
        produces=[ExportReady, ExportFailed, ExportExpired],
        config=config,
    )
    retry = RetryPolicy(attempts=config.job_attempts, initial_delay=1.0, max_delay=30.0)

    async def export_given_up(gave_up: GaveUp) -> None:
        """The job failed for good (out of tries or time): the export failed."""
        kwargs = gave_up.kwargs or {}
        export_id, owner = UUID(str(kwargs["export_id"])), str(kwargs["owner"])
        reason = f"the archive could not be written: {gave_up.reason}"[:2000]
        log.warning("%s: export %s given up: %s", name, export_id, gave_up.reason)
        _discard_partial(archive_path(blobs, export_id))
        record = await export_record(export_id)
        if record is not None and record.status not in ("ready", "expired"):
            await _update(record, status="failed", reason=reason, message="failed")
        failed = ExportFailed(
            export_id=export_id, owner=owner, owner_email=kwargs.get("owner_email"), reason=reason
        )
        await service.publish(failed, id=outcome_event_id(name, "failed", export_id))

    @service.job(timeout=config.job_timeout, retry=retry, on_give_up=export_given_up)
    async def write_export(
        job: JobContext, export_id: str, owner: str, owner_email: str | None = None
    ) -> dict[str, Any]:
        request = ExportRequested(export_id=UUID(export_id), owner=owner, owner_email=owner_email)
        record = await export_record(request.export_id) or await _record(request)
        if record.status in ("ready", "expired"):
            if record.status == "ready":  # written before: announce it (again, same id)
                await job.publish_once(_ready_event(record), id=_ready_id(record))
            return {"outcome": record.status}
        entries = await ready_documents(owner)
        written, missing = await _stream_archive(job, record, entries, blobs, config)
        if not entries:
            await job.progress(100, "no ready documents: an empty archive")
        ready_at = _now()
        await _update(
            record, status="ready", progress=100.0, message="ready",
            storage_url=archive_path(blobs, record.id).as_uri(),
            size_bytes=written.size_bytes, sha256=written.sha256,
            document_count=len(written.names), missing=missing, ready_at=ready_at,
            expires_at=ready_at + timedelta(seconds=config.ttl),
        )  # fmt: skip
        await job.publish_once(_ready_event(record), id=_ready_id(record))
        log.info("%s: export %s ready: %d documents, %d bytes", name, record.id,
                 len(written.names), written.size_bytes)  # fmt: skip
        return {"outcome": "ready", "documents": len(written.names), "bytes": written.size_bytes}

    def _ready_id(record: ExportRecord) -> str:
        return outcome_event_id(name, "ready", record.id)

    @service.on(ExportRequested)
    async def on_export_requested(event: ExportRequested) -> None:
        await _record(event)
        key = str(event.export_id)
        kwargs = {"export_id": key, "owner": event.owner, "owner_email": event.owner_email}
        if not await service.enqueue(write_export, key=key, **kwargs):
            log.info("%s: export %s was already asked for", name, key)

    @service.cron(config.purge_schedule, timeout=600)
    async def purge_expired_exports(job: JobContext, tick: str) -> dict[str, int]:
        """Delete the archives past their expiry; their records say ``expired``."""
        due = await _purge_expired(job, blobs, name)
        if due:
            log.info("%s: purged %d expired exports", name, len(due))
        return {"purged": len(due)}

    return service


async def _record(event: ExportRequested) -> ExportRecord:
    """The export's record, created (``queued``) if it is not there yet."""
    existing = await export_record(event.export_id)
    if existing is not None:
        return existing
    now = _now()
    record = ExportRecord(
        id=event.export_id, owner=event.owner, owner_email=event.owner_email,
        status="queued", message="queued", created_at=now, updated_at=now,
    )  # fmt: skip
    try:
        await record.insert()
    except DuplicateKeyError:  # another replica, a moment earlier
        found = await export_record(event.export_id)
        assert found is not None
        return found
    return record


async def _stream_archive(
    job: JobContext,
    record: ExportRecord,
    entries: list[CatalogEntry],
    blobs: BlobStorage,
    config: ExporterSettings,
) -> tuple[Written, list[UUID]]:
    """Write the entries' bytes to the export's archive, one document at a time (a thread
    each), with progress after each: what was written, and the documents whose bytes
    were gone. The archive appears at its path only when complete."""
    total = len(entries)
    await _update(record, status="running", documents_total=total, documents_done=0,
                  progress=0.0, message=f"{total} ready documents to archive")  # fmt: skip
    await job.progress(0, record.message)
    target = archive_path(blobs, record.id)
    partial = target.with_name(target.name + ".part")
    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
    _discard_partial(target)  # a try that was cut short
    missing: list[UUID] = []
    out = await asyncio.to_thread(partial.open, "wb")
    try:
        folder = download_name(record.id, _aware(record.created_at))
        writer = ArchiveWriter(out, folder, chunk_size=config.chunk_size)
        for done, entry in enumerate(entries, start=1):
            filename = entry.filename or str(entry.id)
            added = await asyncio.to_thread(
                writer.add, filename, _source(blobs, entry), _aware(entry.created_at)
            )
            if added is None:
                missing.append(entry.id)
                log.warning("%s: export %s: the bytes of ready document %s are gone",
                            job.service, record.id, entry.id)  # fmt: skip
            message = f"{done}/{total}: {added or filename}" + ("" if added else " (gone)")
            percent = 100.0 * done / total
            await job.progress(percent, message)
            await _update(record, documents_done=done, progress=percent, message=message)
        written = await asyncio.to_thread(writer.close)
        await asyncio.to_thread(_finish, out, partial, target)
    except BaseException:
        await asyncio.to_thread(out.close)
        _discard_partial(target)
        raise
    return written, missing


async def _purge_expired(job: JobContext, blobs: BlobStorage, name: str) -> list[ExportRecord]:
    """Delete the archives past their expiry, mark them ``expired``, announce each."""
    now = _now()
    ready = await ExportRecord.find({"status": "ready"}).to_list()
    due = [r for r in ready if r.expires_at is not None and _aware(r.expires_at) <= now]
    for record in due:
        if record.storage_url is not None:
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(os.remove, local_path(blobs, record.storage_url))
        await _update(record, status="expired", expired_at=now, message="expired")
        expired = ExportExpired(export_id=record.id, owner=record.owner, expired_at=now)
        await job.publish_once(expired, id=outcome_event_id(name, "expired", record.id))
    return due


def _ready_event(record: ExportRecord) -> ExportReady:
    assert record.storage_url is not None
    assert record.expires_at is not None
    return ExportReady(
        export_id=record.id, owner=record.owner, owner_email=record.owner_email,
        storage_url=record.storage_url, document_count=record.document_count or 0,
        size_bytes=record.size_bytes or 0, sha256=record.sha256 or "",
        expires_at=_aware(record.expires_at), missing=tuple(record.missing),
    )  # fmt: skip


def _source(storage: BlobStorage, entry: CatalogEntry) -> Path:
    # A document's bytes are at the URL storage gives its id; any other URL is not its own
    # (the inspector refuses those too): treat it as gone rather than read another file.
    own = storage.url_for(entry.id)
    if entry.storage_url != own:
        return Path("/nonexistent") / str(entry.id)
    return local_path(storage, own)


def _finish(out: Any, partial: Path, target: Path) -> None:
    out.flush()
    os.fsync(out.fileno())
    out.close()
    partial.replace(target)


def _discard_partial(target: Path) -> None:
    # NotADirectoryError: something that is not a folder is where the archives go.
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        target.with_name(target.name + ".part").unlink()


service = create_service()
