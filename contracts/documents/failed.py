from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field

from contracts.base import Event


class DocumentFailed(Event):
    """A document could not be processed; it will not become ready."""

    event_name: ClassVar[str] = "documents.failed"
    event_version: ClassVar[int] = 1

    document_id: UUID
    owner: Annotated[str, Field(min_length=1, max_length=200)]
    owner_email: str | None = None
    filename: Annotated[str, Field(min_length=1, max_length=255)]
    storage_url: Annotated[str, Field(min_length=1)]
    stage: Annotated[str, Field(min_length=1, max_length=50, description="Where it failed")]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
