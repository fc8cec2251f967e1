from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field

from contracts.base import Event


class QuotaReleased(Event):
    """Accounts gave back a document's reserved quota (compensation for a failed one)."""

    event_name: ClassVar[str] = "accounts.quota_released"
    event_version: ClassVar[int] = 1

    document_id: UUID
    owner: Annotated[str, Field(min_length=1, max_length=200)]
    size_bytes: Annotated[int, Field(ge=0)]
    documents_used: Annotated[int, Field(ge=0)]
    bytes_used: Annotated[int, Field(ge=0)]
