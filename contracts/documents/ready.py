from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field

from contracts.base import Event


class DocumentReady(Event):
    """A document is inspected and catalogued: its owner can use it."""

    event_name: ClassVar[str] = "documents.ready"
    event_version: ClassVar[int] = 1

    document_id: UUID
    owner: Annotated[str, Field(min_length=1, max_length=200)]
    owner_email: str | None = None
    filename: Annotated[str, Field(min_length=1, max_length=255)]
    content_type: Annotated[str, Field(min_length=3, max_length=255)]
    language: str | None = None
