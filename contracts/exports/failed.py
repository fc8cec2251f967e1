from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field

from contracts.base import Event


class ExportFailed(Event):
    """An export could not be written; it will not become ready (ask for a new one)."""

    event_name: ClassVar[str] = "exports.failed"
    event_version: ClassVar[int] = 1

    export_id: UUID
    owner: Annotated[str, Field(min_length=1, max_length=200)]
    owner_email: str | None = None
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
