from datetime import datetime
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field

from contracts.base import Event


class ExportExpired(Event):
    """An export's archive passed its expiry and its bytes were deleted."""

    event_name: ClassVar[str] = "exports.expired"
    event_version: ClassVar[int] = 1

    export_id: UUID
    owner: Annotated[str, Field(min_length=1, max_length=200)]
    expired_at: datetime
