from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import Field

from contracts.base import Event


class DocumentInspected(Event):
    """The inspector read a document's bytes and found what they are."""

    event_name: ClassVar[str] = "documents.inspected"
    event_version: ClassVar[int] = 1

    document_id: UUID
    owner: Annotated[str, Field(min_length=1, max_length=200)]
    owner_email: str | None = None
    filename: Annotated[str, Field(min_length=1, max_length=255)]
    content_type: Annotated[
        str, Field(min_length=3, max_length=255, description="Detected from the bytes (libmagic)")
    ]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    size_bytes: Annotated[int, Field(ge=0)]
    language: Annotated[
        str | None, Field(description="ISO 639-1 code of the text's language, if any was found")
    ] = None
    word_count: Annotated[int | None, Field(ge=0)] = None
    page_count: Annotated[int | None, Field(ge=0)] = None
    details: Annotated[
        dict[str, Any],
        Field(default_factory=dict, description="Loose, type-specific metadata"),
    ]
