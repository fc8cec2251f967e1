"""The journal service. Consumes: every domain event. Produces: nothing."""

from __future__ import annotations

import logging

from bus import BusSettings, Envelope, Service
from bus import journal as store

log = logging.getLogger("services.journal")


def create_service(name: str = "journal", settings: BusSettings | None = None) -> Service:
    """The journal: every domain event, stored once in MongoDB under its id.

    Each replica holds a plain (not shared) persistent subscription, which
    Mosquitto keeps across its own restarts, so the journal misses nothing that
    other services may need to catch up on; replicas write the same ids, which
    the store's primary key makes harmless.
    """
    service = Service(name, settings=settings, shared=False)

    @service.on_every_event
    async def on_event(envelope: Envelope) -> None:
        if not await store.record(envelope):
            log.debug("journal: event %s was already recorded", envelope.id)

    return service


service = create_service()
