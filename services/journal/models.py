"""The journal's one document: an event envelope, stored whole."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from beanie import Document
from pydantic import Field
from pymongo import DESCENDING, IndexModel


class JournalEntry(Document):
    """One event as it travelled. ``id`` is the event id, so a redelivery can't add a second."""

    id: str  # type: ignore[assignment]  # the event id is the primary key, not an ObjectId
    type: str
    source: str
    time: datetime
    correlationid: str | None = None
    causationid: str | None = None
    envelope: dict[str, Any]
    recorded_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    class Settings:
        name = "journal"
        indexes = [  # noqa: RUF012 - Beanie reads this class attribute
            IndexModel([("recorded_at", DESCENDING)]),
            IndexModel([("type", 1), ("recorded_at", DESCENDING)]),
            IndexModel([("correlationid", 1)]),
        ]
