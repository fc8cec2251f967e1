"""A consumer whose every effect lands in MongoDB under the event id (a unique key),
so a test can count what was lost and what was applied again."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from uuid import uuid4

from beanie import Document
from pydantic import Field
from pymongo.errors import DuplicateKeyError

from bus import BusSettings, Envelope, Service
from contracts import DocumentUploaded


class Effect(Document):
    """The one effect of one event: ``_id`` is the event id, the store's unique key."""

    id: str  # type: ignore[assignment]
    filename: str
    instance: str
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    class Settings:
        name = "effects"


class Reapplied(Document):
    """A handler call that found its event's effect already stored."""

    id: str = Field(default_factory=lambda: uuid4().hex)  # type: ignore[assignment]
    event_id: str
    instance: str

    class Settings:
        name = "reapplied"


def create_consumer(name: str, settings: BusSettings | None = None, delay: float = 0.0) -> Service:
    """A service applying each DocumentUploaded once, slowed by ``delay`` seconds."""
    service = Service(name, settings=settings, documents=[Effect, Reapplied])

    @service.on(DocumentUploaded)
    async def apply(event: DocumentUploaded, envelope: Envelope) -> None:
        if delay:
            await asyncio.sleep(delay)
        instance = service.settings.instance
        try:
            await Effect(id=envelope.id, filename=event.filename, instance=instance).insert()
        except DuplicateKeyError:
            await Reapplied(event_id=envelope.id, instance=instance).insert()

    return service


service = create_consumer(
    os.environ.get("CHORUS_TEST_SERVICE_NAME", "fault-consumer"),
    delay=float(os.environ.get("CHORUS_TEST_DELAY", "0")),
)
