"""What the API answers with: the public shape of a document, built from the catalog."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from services.catalog import CatalogEntry


class TimelineItem(BaseModel):
    """One step of a document's way through the pipeline."""

    at: datetime
    status: str
    event_type: str
    message: str | None = None
    percent: float | None = None


class DocumentView(BaseModel):
    """A document as its owner sees it."""

    id: UUID
    status: str
    filename: str
    size_bytes: int | None = None
    declared_content_type: str | None = None
    content_type: str | None = None
    language: str | None = None
    reason: str | None = None
    progress: float | None = None
    inspection: dict[str, Any] | None = None
    timeline: list[TimelineItem] = []
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, entry: CatalogEntry) -> DocumentView:
        inspection = entry.inspection or {}
        return cls(
            id=entry.id,
            status=entry.status,
            filename=entry.filename or "",
            size_bytes=entry.size_bytes,
            declared_content_type=entry.declared_content_type,
            content_type=inspection.get("content_type"),
            language=inspection.get("language"),
            reason=entry.reason,
            progress=entry.progress,
            inspection=entry.inspection,
            timeline=[
                TimelineItem(
                    at=item.at,
                    status=item.status,
                    event_type=item.event_type,
                    message=item.message,
                    percent=item.percent,
                )
                for item in entry.timeline
            ],
            created_at=entry.created_at,
            updated_at=entry.updated_at,
        )


class DocumentUpload(BaseModel):
    """The form ``POST /documents`` takes (multipart/form-data). Only declared: the gateway
    reads the form as it streams in (:mod:`services.gateway.uploads`); other fields are
    ignored."""

    file: bytes = Field(
        min_length=1,
        description="The document; its part's filename and Content-Type are kept as the"
        " document's name and declared type",
    )


class Accepted(BaseModel):
    """The answer to an upload: processing goes on; poll ``location``."""

    document_id: UUID
    status: str = "uploaded"
    location: str


class TokenRequest(BaseModel):
    """An API key, as ``accounts`` issued it."""

    api_key: str


class TokenGranted(BaseModel):
    """A bearer token for ``Authorization: Bearer <access_token>``."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds the token lives")


class Health(BaseModel):
    """Whether the gateway can accept uploads, and which of its dependencies answer."""

    status: Literal["ok", "degraded"]
    checks: dict[str, bool] = Field(description="Each dependency ('bus', 'redis'): reachable")
