"""The exporter's read model: one record per export, in its own collection."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal
from uuid import UUID

from beanie import Document
from pydantic import BaseModel, Field, model_validator
from pymongo import ASCENDING, DESCENDING, IndexModel

ExportStatus = Literal["requested", "queued", "running", "ready", "failed", "expired"]

FINISHED: Final = frozenset({"ready", "failed", "expired"})
"""Statuses an export is done with: it waits for nothing (``ready`` only for expiry)."""


class ExportBase(BaseModel):
    """One export, as its owner follows it.

    Attributes:
        status: ``queued`` (the exporter has it), ``running``, then ``ready``, ``failed``,
            or, once past ``expires_at`` and purged, ``expired``.
        documents_total: Ready documents the archive is written from.
        documents_done: Of those, how many are in it so far.
        progress: Percent of the work done.
        message: The last step, in a few words.
        storage_url: Where the archive is, once ready (its bytes are gone once expired).
        document_count: Documents in the finished archive.
        missing: Ready documents whose bytes were gone when the archive was written.
    """

    id: UUID
    owner: str
    owner_email: str | None = None
    status: ExportStatus = "queued"
    documents_total: int | None = None
    documents_done: int = 0
    progress: float = 0.0
    message: str = ""
    reason: str | None = None
    storage_url: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    document_count: int | None = None
    missing: list[UUID] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None = None
    expires_at: datetime | None = None
    expired_at: datetime | None = None


class ExportRecord(ExportBase, Document):
    """An export as stored in the ``exports`` collection, keyed by export id.

    ``key`` is the id as text: FerretDB 1.24 (PostgreSQL) has PostgreSQL filter on a
    string but not on a UUID (as :class:`services.catalog.CatalogEntry` does).
    """

    key: str = Field(default="", description="The export id as text, for lookups")

    @model_validator(mode="after")
    def _key_is_the_id(self) -> ExportRecord:
        self.key = str(self.id)
        return self

    class Settings:
        name = "exports"
        indexes = [  # noqa: RUF012 - Beanie reads this class attribute
            IndexModel([("key", ASCENDING)]),
            IndexModel([("owner", ASCENDING), ("created_at", DESCENDING)]),
            IndexModel([("status", ASCENDING)]),
        ]
