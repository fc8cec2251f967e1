from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field

from contracts.base import Event


class DocumentUploaded(Event):
    """A user's file has been stored by the gateway and awaits processing."""

    event_name: ClassVar[str] = "documents.uploaded"
    event_version: ClassVar[int] = 1

    document_id: UUID
    owner: Annotated[str, Field(min_length=1, max_length=200, description="The owning user's id")]
    owner_email: Annotated[
        str | None, Field(default=None, max_length=320, description="Where to notify the owner")
    ] = None
    filename: Annotated[str, Field(min_length=1, max_length=255)]
    size_bytes: Annotated[int, Field(ge=0)]
    content_type: Annotated[
        str,
        Field(min_length=3, max_length=255, description="As declared by the client; not trusted"),
    ]
    storage_url: Annotated[str, Field(min_length=1, description="Where the bytes are stored")]
