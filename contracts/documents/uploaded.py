from typing import Annotated, ClassVar, Final
from uuid import UUID

from pydantic import Field

from contracts.base import Event

USER_AGENT_MAX_LENGTH: Final = 512
"""Characters of the client's User-Agent an upload records (the gateway cuts longer ones)."""


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
    user_agent: Annotated[
        str | None,
        Field(
            default=None,
            max_length=USER_AGENT_MAX_LENGTH,
            description="The uploading client's User-Agent header, if it sent one; a longer"
            " one is cut to its first 511 characters and '…'",
        ),
    ] = None
    locale: Annotated[
        str,
        Field(
            default="en",
            min_length=1,
            max_length=35,
            pattern=r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$",
            description="The language negotiated from the upload's Accept-Language (a BCP 47"
            " tag, e.g. 'en' or 'de'), in which the owner is told about the document",
            examples=["de"],
        ),
    ] = "en"
