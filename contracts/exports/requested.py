from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field

from contracts.base import Event


class ExportRequested(Event):
    """A user asked for an archive of their ready documents (the gateway accepted it)."""

    event_name: ClassVar[str] = "exports.requested"
    event_version: ClassVar[int] = 1

    export_id: UUID
    owner: Annotated[str, Field(min_length=1, max_length=200, description="The owning user's id")]
    owner_email: Annotated[
        str | None, Field(default=None, max_length=320, description="Where to notify the owner")
    ] = None
