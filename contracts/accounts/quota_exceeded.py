from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field

from contracts.base import Event


class QuotaExceeded(Event):
    """Accounts refused a document: the owner's quota (or account) does not allow it."""

    event_name: ClassVar[str] = "accounts.quota_exceeded"
    event_version: ClassVar[int] = 1

    document_id: UUID
    owner: Annotated[str, Field(min_length=1, max_length=200)]
    owner_email: str | None = None
    filename: Annotated[str, Field(min_length=1, max_length=255)]
    size_bytes: Annotated[int, Field(ge=0)]
    storage_url: Annotated[str, Field(min_length=1)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
