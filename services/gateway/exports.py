"""Exports as the gateway shows them: the exporter's read model, or, until the exporter
has recorded an export, the gateway's own note of the request (in Redis)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from services.exporter import ExportRecord, find_export

EXPORT_KEY = "chorus:gateway:export:{export_id}"
"""A requested export's owner and time, until the exporter has recorded it."""

ExportState = Literal["requested", "queued", "running", "ready", "failed", "expired"]

EXPORT_TERMINAL = frozenset({"ready", "failed", "expired"})
"""Statuses a long poll or an event stream ends on (``ready`` ends the wait: the archive
can be downloaded; it only expires later)."""


class ExportView(BaseModel):
    """An export as its owner sees it."""

    id: UUID
    status: ExportState
    progress: float = Field(description="Percent of the documents archived so far")
    documents_total: int | None = Field(
        default=None, description="Ready documents being archived, once counted"
    )
    documents_done: int = 0
    message: str = ""
    reason: str | None = Field(default=None, description="Why it failed")
    size_bytes: int | None = Field(default=None, description="Of the tar.gz, once ready")
    sha256: str | None = Field(default=None, description="Of the tar.gz, once ready")
    document_count: int | None = Field(default=None, description="In the archive, once ready")
    missing: list[UUID] = Field(
        default_factory=list,
        description="Ready documents left out: their bytes were gone when it was written",
    )
    download: str | None = Field(default=None, description="Where to download it while ready")
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None

    @classmethod
    def of(cls, record: ExportRecord, download: str | None) -> ExportView:
        return cls(
            id=record.id, status=record.status, progress=record.progress,
            documents_total=record.documents_total, documents_done=record.documents_done,
            message=record.message, reason=record.reason, size_bytes=record.size_bytes,
            sha256=record.sha256, document_count=record.document_count,
            missing=record.missing, download=download if record.status == "ready" else None,
            created_at=_utc(record.created_at), updated_at=_utc(record.updated_at),
            expires_at=_utc(record.expires_at) if record.expires_at else None,
        )  # fmt: skip


class ExportAccepted(BaseModel):
    """The answer to an export request: the archive is written behind; poll ``location``."""

    export_id: UUID
    status: ExportState = "requested"
    location: str


class ExportProgress(BaseModel):
    """One event of an export's stream: where it stands."""

    status: ExportState
    progress: float
    documents_total: int | None = None
    documents_done: int = 0
    message: str = ""


def _utc(moment: datetime) -> datetime:
    # MongoDB keeps UTC without a zone: what comes back is naive.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def remember_export(redis: Redis, export_id: UUID, owner: str, ttl: int) -> datetime:
    """Note a requested export, until the exporter records it; when it was requested."""
    now = datetime.now(UTC)
    value = json.dumps({"owner": owner, "at": now.isoformat()})
    await redis.set(EXPORT_KEY.format(export_id=export_id), value, ex=ttl)
    return now


async def forget_export(redis: Redis, export_id: UUID) -> None:
    await redis.delete(EXPORT_KEY.format(export_id=export_id))


async def export_view(
    redis: Redis, export_id: UUID, owner: str, download: str
) -> ExportView | None:
    """``owner``'s export as the exporter has it, or as requested; None if there is no
    such export of theirs."""
    record = await find_export(export_id, owner)
    if record is not None:
        return ExportView.of(record, download)
    value = await redis.get(EXPORT_KEY.format(export_id=export_id))
    if value is None:
        return None
    data = json.loads(value)
    if data["owner"] != owner:
        return None
    at = datetime.fromisoformat(data["at"])
    return ExportView(
        id=export_id, status="requested", progress=0.0, message="requested",
        created_at=at, updated_at=at,
    )  # fmt: skip
