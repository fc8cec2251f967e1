"""The journal service. Consumes: every domain event. Produces: nothing."""

from __future__ import annotations

import logging

from bus import BusSettings, Envelope, Service
from services.journal import store
from services.journal.models import JournalEntry

log = logging.getLogger("services.journal")


def create_service(name: str = "journal", settings: BusSettings | None = None) -> Service:
    """The journal: every domain event, stored once in MongoDB under its id."""
    service = Service(name, settings=settings, documents=[JournalEntry])

    @service.on_every_event
    async def on_event(envelope: Envelope) -> None:
        if not await store.record(envelope):
            log.info("journal: event %s was already recorded", envelope.id)

    return service


service = create_service()
