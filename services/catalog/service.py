"""The catalog service: the read model of every document.

Consumes: DocumentUploaded, QuotaReserved, JobProgressed, DocumentInspected,
QuotaExceeded, DocumentFailed, QuotaReleased, DocumentContentDeleted.
Produces: DocumentReady.
"""

from __future__ import annotations

import logging

from bus import BusSettings, Envelope, Service
from contracts import (
    DocumentContentDeleted,
    DocumentFailed,
    DocumentInspected,
    DocumentReady,
    DocumentUploaded,
    JobProgressed,
    QuotaExceeded,
    QuotaReleased,
    QuotaReserved,
)
from services.catalog import updates
from services.catalog.log import adopt_applied_events
from services.catalog.models import AppliedEvent, CatalogEntry, LoggedEvent

log = logging.getLogger("services.catalog")


def create_service(name: str = "catalog", settings: BusSettings | None = None) -> Service:
    """The catalog: each document's status, timeline and inspection metadata in MongoDB.

    Every handler applies its event through :mod:`services.catalog.updates`, which
    is idempotent and independent of the order events arrive in. Once the
    inspection of a document makes it ready, the catalog announces
    :class:`~contracts.DocumentReady`.
    """
    service = Service(
        name,
        settings=settings,
        documents=[CatalogEntry, LoggedEvent, AppliedEvent],
        produces=[DocumentReady],
    )
    # Before subscribing: a catalog kept by an earlier version becomes the slot log.
    service.on_startup(adopt_applied_events)

    @service.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded, envelope: Envelope) -> None:
        await updates.apply_uploaded(event, event_id=envelope.id, at=envelope.time)

    @service.on(QuotaReserved)
    async def on_quota_reserved(event: QuotaReserved, envelope: Envelope) -> None:
        await updates.apply_quota_reserved(event, event_id=envelope.id, at=envelope.time)

    @service.on(JobProgressed)
    async def on_job_progressed(event: JobProgressed, envelope: Envelope) -> None:
        await updates.apply_job_progressed(event, event_id=envelope.id, at=envelope.time)

    @service.on(DocumentInspected)
    async def on_inspected(event: DocumentInspected, envelope: Envelope) -> None:
        entry = await updates.apply_inspected(event, event_id=envelope.id, at=envelope.time)
        if entry.status != "ready" or entry.status_event_id != envelope.id:
            # Rejected or failed first (terminal), or made ready by another inspection
            # that has announced it already.
            log.info("catalog: %s stays %s", entry.id, entry.status)
            return
        # Also when this event had already made it ready (a run that stopped before
        # publishing): the id derives from this event's, so consumers skip a repeat.
        await service.publish(
            DocumentReady(
                document_id=event.document_id,
                owner=event.owner,
                owner_email=event.owner_email or entry.owner_email,
                filename=event.filename,
                content_type=event.content_type,
                language=event.language,
            )
        )

    @service.on(QuotaExceeded)
    async def on_quota_exceeded(event: QuotaExceeded, envelope: Envelope) -> None:
        await updates.apply_quota_exceeded(event, event_id=envelope.id, at=envelope.time)

    @service.on(DocumentFailed)
    async def on_failed(event: DocumentFailed, envelope: Envelope) -> None:
        await updates.apply_failed(event, event_id=envelope.id, at=envelope.time)

    @service.on(QuotaReleased)
    async def on_quota_released(event: QuotaReleased, envelope: Envelope) -> None:
        await updates.apply_quota_released(event, event_id=envelope.id, at=envelope.time)

    @service.on(DocumentContentDeleted)
    async def on_content_deleted(event: DocumentContentDeleted, envelope: Envelope) -> None:
        await updates.apply_content_deleted(event, event_id=envelope.id, at=envelope.time)

    return service


service = create_service()
