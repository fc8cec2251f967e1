from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field

from contracts.base import Event


class NotificationSent(Event):
    """The notifier handed a message about a document to the mail server."""

    event_name: ClassVar[str] = "notifications.sent"
    event_version: ClassVar[int] = 1

    document_id: UUID
    recipient: Annotated[str, Field(min_length=3, max_length=320)]
    subject: Annotated[str, Field(min_length=1, max_length=500)]
    template: Annotated[str, Field(min_length=1, max_length=100)]
    message_id: Annotated[str, Field(min_length=1, max_length=500)]
