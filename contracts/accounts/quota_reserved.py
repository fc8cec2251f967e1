from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field

from contracts.base import Event


class QuotaReserved(Event):
    """Accounts set aside one document and its bytes of the owner's quota."""

    event_name: ClassVar[str] = "accounts.quota_reserved"
    event_version: ClassVar[int] = 1

    document_id: UUID
    owner: Annotated[str, Field(min_length=1, max_length=200)]
    owner_email: str | None = None
    filename: Annotated[str, Field(min_length=1, max_length=255)]
    size_bytes: Annotated[int, Field(ge=0)]
    content_type: Annotated[str, Field(min_length=3, max_length=255, description="As declared")]
    storage_url: Annotated[str, Field(min_length=1)]
    documents_used: Annotated[int, Field(ge=0)]
    bytes_used: Annotated[int, Field(ge=0)]
