from datetime import datetime
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field

from contracts.base import Event


class ExportReady(Event):
    """An export's archive is written and can be downloaded until ``expires_at``."""

    event_name: ClassVar[str] = "exports.ready"
    event_version: ClassVar[int] = 1

    export_id: UUID
    owner: Annotated[str, Field(min_length=1, max_length=200)]
    owner_email: str | None = None
    storage_url: Annotated[str, Field(min_length=1, description="Where the archive is stored")]
    document_count: Annotated[int, Field(ge=0, description="Documents in the archive")]
    size_bytes: Annotated[int, Field(ge=0, description="Size of the tar.gz")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="Of the tar.gz")]
    expires_at: datetime
    missing: Annotated[
        tuple[UUID, ...],
        Field(description="Ready documents whose bytes were gone when the archive was written"),
    ] = ()
