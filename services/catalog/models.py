"""The catalog's documents: one entry per document, and the log it is folded from."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal
from uuid import UUID

from beanie import Document
from pydantic import BaseModel, Field, model_validator
from pymongo import ASCENDING, DESCENDING, IndexModel

Status = Literal["uploaded", "accepted", "inspecting", "ready", "rejected", "failed"]

STATUSES: Final[tuple[Status, ...]] = (
    "uploaded",
    "accepted",
    "inspecting",
    "ready",
    "rejected",
    "failed",
)
"""Every status a document can have, roughly in the order it goes through them."""

TERMINAL_STATUSES: Final = frozenset({"ready", "rejected", "failed"})
"""Statuses a document never leaves."""

STATUS_RANK: Final[dict[Status, int]] = {
    "uploaded": 0,
    "accepted": 1,
    "inspecting": 2,
    "ready": 3,
    "rejected": 3,
    "failed": 3,
}
"""A status only ever gives way to one of higher rank; the terminal ones share the top."""


class TimelineEntry(BaseModel):
    """One event in a document's history.

    Attributes:
        at: When the event happened, as its sender says (its envelope's ``time``): the
            timeline is shown in this order, but nothing is decided by it.
        event_id: The event's id; each event appears once.
        event_type: Its CloudEvents type, such as ``documents.uploaded.v1``.
        status: The document's status once this event happened (in event time; a
            terminal status that lost to one received earlier is not shown).
        message: What happened, in a few words.
        percent: For inspection progress, how far it got.
    """

    at: datetime
    event_id: str
    event_type: str
    status: Status
    message: str = ""
    percent: float | None = None


class CatalogEntryBase(BaseModel):
    """The read model of one document: what it is, where it stands, and how it got there.

    Fields an event has not told the catalog yet are None: events of one document
    arrive in any order, so the entry may exist before its upload is known. Owner,
    file name, declared type, size and storage URL come from the gateway's upload
    alone: an entry without one has no owner, and nobody can read it.
    ``inspection`` is the inspector's loose metadata (``content_type``, ``sha256``,
    ``language``, ``word_count``, ``page_count``, ``details``…); keys of ``details``
    that MongoDB-compatible stores refuse (a ``.`` anywhere, a leading ``$``) have
    those characters replaced by their full-width forms (U+FF0E, U+FF04).
    """

    id: UUID
    owner: str | None = None
    owner_email: str | None = None
    filename: str | None = None
    declared_content_type: str | None = None
    size_bytes: int | None = None
    storage_url: str | None = None
    locale: str | None = Field(
        default=None, description="The language the upload negotiated, for mail to the owner"
    )
    user_agent: str | None = Field(default=None, description="The uploading client's User-Agent")
    status: Status = "uploaded"
    rank: int = 0
    status_event_id: str | None = Field(
        default=None, description="The event that set the current status"
    )
    reason: str | None = None
    inspection: dict[str, Any] | None = None
    progress: float | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime

    @property
    def terminal(self) -> bool:
        """Whether the status is final (ready, rejected or failed)."""
        return self.status in TERMINAL_STATUSES


class CatalogEntry(CatalogEntryBase, Document):
    """A document's entry as stored in the ``catalog`` collection, keyed by document id.

    ``key`` is the id again, as text: FerretDB 1.24 (PostgreSQL) has PostgreSQL filter
    on a string, but not on a UUID (BSON binary), which it filters itself after reading
    the whole collection. Look entries up with :func:`services.catalog.entry_of`.
    """

    key: str = Field(default="", description="The document id as text, for lookups")

    @model_validator(mode="after")
    def _key_is_the_id(self) -> CatalogEntry:
        self.key = str(self.id)
        return self

    class Settings:
        name = "catalog"
        indexes = [  # noqa: RUF012 - Beanie reads this class attribute
            IndexModel([("key", ASCENDING)]),
            IndexModel([("owner", ASCENDING), ("updated_at", DESCENDING)]),
        ]


class AppliedEventBase(BaseModel):
    """One event the catalog applied to a document, as the catalog understood it.

    The entry of a document is folded from all of them (see
    :func:`services.catalog.projection.project`), never updated piecemeal.
    """

    id: str = Field(description="The event id")
    document_id: UUID
    event_type: str
    at: datetime = Field(description="The envelope's time, as the sender wrote it")
    status: Status | None = None
    facts: dict[str, Any] = Field(
        default_factory=dict,
        description="What the event says about the document: owner, owner_email, filename, "
        "declared_content_type, size_bytes, storage_url (only the upload's are believed, "
        "but owner_email)",
    )
    message: str = ""
    percent: float | None = None
    reason: str | None = None
    inspection: dict[str, Any] | None = None
    recorded_at: datetime = Field(
        description="When the catalog received the event: what orders a document's events"
    )


class LoggedEvent(AppliedEventBase, Document):
    """One event in a document's log (``catalog_events``), keyed by the event id: an
    event is logged once, since inserting an id that is there fails (atomic on FerretDB
    1.24 as on MongoDB). A document's log is read by ``document``, its id as text: an
    equality on a string, which FerretDB 1.24 (PostgreSQL) has PostgreSQL filter."""

    document: str = Field(default="", description="``document_id`` as text, for lookups")

    @model_validator(mode="after")
    def _document_is_the_id(self) -> LoggedEvent:
        self.document = str(self.document_id)
        return self

    class Settings:
        name = "catalog_events"
        indexes = [  # noqa: RUF012 - Beanie reads this class attribute
            IndexModel([("document", ASCENDING)]),
        ]


class AppliedEvent(AppliedEventBase, Document):
    """The log as the first versions kept it (``catalog_applied``, one record per event
    id): read once, to adopt it into ``catalog_events``."""

    class Settings:
        name = "catalog_applied"
        indexes = [  # noqa: RUF012 - Beanie reads this class attribute
            IndexModel([("document_id", ASCENDING)]),
        ]
