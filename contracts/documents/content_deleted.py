from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field

from contracts.base import Event


class DocumentContentDeleted(Event):
    """A document's stored bytes were deleted (compensation for a rejected or failed one)."""

    event_name: ClassVar[str] = "documents.content_deleted"
    event_version: ClassVar[int] = 1

    document_id: UUID
    storage_url: Annotated[str, Field(min_length=1)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
