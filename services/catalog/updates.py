"""Applying events to the catalog: one function per event, callable without the bus.

Each function logs the event for its document (``catalog_events``, see
:mod:`services.catalog.history`; an event logged already is not logged again), with
the time the catalog received it, and then writes the document's entry afresh from
the whole log (:func:`services.catalog.projection.project`). Only the gateway's
upload records who owns a document and which file it is: the other events record
their status and what they add (accounts: the owner's address; the inspector: what
the bytes are), whatever owner or file they name.

Why not update the entry in place with ``$setOnInsert``, ``$push`` guarded by
``$ne`` and a rank guard? Each of those operators works on FerretDB 1.24 (on
SQLite and on PostgreSQL alike), but its updates are not atomic: they behave as a
read of the document, the operators applied, and the whole document written back,
so two concurrent updates of one document (the catalog handles each topic on its
own subscription, and replicas run side by side) lose each other's changes.
Measured on it (SQLite): 60 concurrent ``$inc`` of one field added up to 8 and to
21 in two runs; guarded ``$push``es both lost and duplicated timeline entries; a
compare-and-set by filter let 40 writers of the same version all win; and the
in-place technique, applied to the events of one document at once, left 20
documents out of 20 wrong (entries lost or doubled, some still ``uploaded``
after every event had been applied).
What FerretDB does keep atomic is a unique key: an insert of an existing
``_id`` fails. So the log is insert-only and the entry is a function of the
log; after writing it, the writer checks that the log did not grow meanwhile,
and writes again if it did. The last write to land is therefore always made
from the complete log, on FerretDB and MongoDB alike.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID

from pymongo.errors import DuplicateKeyError

from bus.mongo import save_by_key
from contracts import (
    DocumentContentDeleted,
    DocumentFailed,
    DocumentInspected,
    DocumentUploaded,
    Event,
    JobProgressed,
    QuotaExceeded,
    QuotaReleased,
    QuotaReserved,
)
from services.catalog.history import append, read_log
from services.catalog.models import AppliedEventBase, CatalogEntry, Status
from services.catalog.projection import project

log = logging.getLogger("services.catalog")

_RACES: Final = 3
"""Lost insert races after which :func:`refresh` gives up (an entry under another key)."""

INSPECT_JOB: Final = "inspect_document"
"""The inspector's job whose progress the catalog follows (its key is the document id)."""


async def apply_uploaded(event: DocumentUploaded, *, event_id: str, at: datetime) -> CatalogEntry:
    """The gateway stored the bytes: status ``uploaded``, and the only event whose owner,
    file name, size and storage URL the catalog believes."""
    return await _apply(
        event, event_id=event_id, at=at, document_id=event.document_id, status="uploaded",
        facts={
            "owner": event.owner, "owner_email": event.owner_email, "filename": event.filename,
            "declared_content_type": event.content_type, "size_bytes": event.size_bytes,
            "storage_url": event.storage_url, "locale": event.locale,
            "user_agent": event.user_agent,
        },
        message=f"uploaded {event.filename} ({event.size_bytes} bytes)",
    )  # fmt: skip


async def apply_quota_reserved(
    event: QuotaReserved, *, event_id: str, at: datetime
) -> CatalogEntry:
    """Accounts accepted the document: status ``accepted`` (and the owner's address, if
    accounts knows it; the owner it names is not believed)."""
    return await _apply(
        event, event_id=event_id, at=at, document_id=event.document_id, status="accepted",
        facts={"owner_email": event.owner_email},
        message="quota reserved",
    )  # fmt: skip


async def apply_job_progressed(
    event: JobProgressed, *, event_id: str, at: datetime
) -> CatalogEntry | None:
    """The inspection moved on: status ``inspecting``, with its percent.

    Returns None (and stores nothing) for progress of any other job, or of an
    inspection whose key is not a document id.
    """
    if event.job != INSPECT_JOB:
        return None
    try:
        document_id = UUID(event.key)
    except ValueError:
        log.warning("catalog: %s progress with key %r, not a document id", event.job, event.key)
        return None
    return await _apply(
        event, event_id=event_id, at=at, document_id=document_id, status="inspecting",
        message=event.message or f"inspecting: {event.percent:g}%", percent=event.percent,
    )  # fmt: skip


async def apply_inspected(event: DocumentInspected, *, event_id: str, at: datetime) -> CatalogEntry:
    """The inspector found what the document is: status ``ready``, with its metadata."""
    inspection = {
        "content_type": event.content_type,
        "sha256": event.sha256,
        "size_bytes": event.size_bytes,
        "language": event.language,
        "word_count": event.word_count,
        "page_count": event.page_count,
        "details": storable(event.details),
    }
    summary = ", ".join(
        str(part) for part in (event.content_type, event.language) if part is not None
    )
    return await _apply(
        event, event_id=event_id, at=at, document_id=event.document_id, status="ready",
        message=f"inspected: {summary}", inspection=inspection,
    )  # fmt: skip


async def apply_quota_exceeded(
    event: QuotaExceeded, *, event_id: str, at: datetime
) -> CatalogEntry:
    """Accounts refused the document: status ``rejected``, with the reason."""
    return await _apply(
        event, event_id=event_id, at=at, document_id=event.document_id, status="rejected",
        facts={"owner_email": event.owner_email},
        message=f"rejected: {event.reason}", reason=event.reason,
    )  # fmt: skip


async def apply_failed(event: DocumentFailed, *, event_id: str, at: datetime) -> CatalogEntry:
    """Processing gave up on the document: status ``failed``, with the reason."""
    return await _apply(
        event, event_id=event_id, at=at, document_id=event.document_id, status="failed",
        message=f"failed at {event.stage}: {event.reason}", reason=event.reason,
    )  # fmt: skip


async def apply_quota_released(
    event: QuotaReleased, *, event_id: str, at: datetime
) -> CatalogEntry:
    """Accounts gave the quota back: a timeline entry, no change of status."""
    return await _apply(
        event, event_id=event_id, at=at, document_id=event.document_id,
        message="quota released",
    )  # fmt: skip


async def apply_content_deleted(
    event: DocumentContentDeleted, *, event_id: str, at: datetime
) -> CatalogEntry:
    """The stored bytes were deleted: a timeline entry, no change of status."""
    return await _apply(
        event, event_id=event_id, at=at, document_id=event.document_id,
        message=f"content deleted: {event.reason}",
    )  # fmt: skip


async def refresh(document_id: UUID) -> CatalogEntry | None:
    """Write the entry of ``document_id`` from its log; None if nothing was applied to it.

    Loops until the log it wrote from is still the whole log after the write (see the
    module docstring), so that no concurrent writer's older view lasts. The log only
    grows, so the same number of events is the same events.
    """
    logged = await read_log(document_id)
    raced = 0
    while True:
        if not logged:
            return None
        entry = CatalogEntry.model_validate(project(document_id, logged).model_dump())
        try:
            await save_by_key(entry)
        except DuplicateKeyError:
            # Two first writes raced to insert the entry: this one is now an update. Again
            # and again only if an entry holds the id under another key (none should).
            raced += 1
            if raced > _RACES:
                raise
            continue
        now = await read_log(document_id)
        if len(now) == len(logged):
            return entry
        logged = now


async def _apply(
    event: Event,
    *,
    event_id: str,
    at: datetime,
    document_id: UUID,
    status: Status | None = None,
    facts: dict[str, Any] | None = None,
    message: str = "",
    percent: float | None = None,
    reason: str | None = None,
    inspection: dict[str, Any] | None = None,
) -> CatalogEntry:
    record = AppliedEventBase(
        id=event_id,
        document_id=document_id,
        event_type=event.contract.type,
        at=at,
        status=status,
        facts={k: v for k, v in (facts or {}).items() if v is not None},
        message=message,
        percent=percent,
        reason=reason,
        inspection=inspection,
        recorded_at=datetime.now(UTC),
    )
    if not await append(record):
        # Applied before (a redelivery, or a run that stopped before the entry was
        # written): write the entry anyway, so that it surely reflects the event.
        log.debug("catalog: event %s was already applied", event_id)
    entry = await refresh(document_id)
    if entry is None:  # only if someone emptied the log meanwhile
        msg = f"the catalog log of document {document_id} is empty after applying {event_id}"
        raise RuntimeError(msg)
    return entry


def storable(value: Any) -> Any:
    """``value`` with every mapping key acceptable to MongoDB-compatible stores.

    FerretDB refuses keys that contain ``.`` or start with ``$``; they get the
    full-width U+FF0E and U+FF04 instead (readable, and unlikely to collide).
    """
    if isinstance(value, dict):
        return {_storable_key(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def _storable_key(key: str) -> str:
    key = key.replace(".", "\uff0e")
    return "\uff04" + key[1:] if key.startswith("$") else key
