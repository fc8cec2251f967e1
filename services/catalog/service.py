"""The catalog service: the read model of every document.

Consumes: DocumentUploaded, QuotaReserved, JobProgressed, DocumentInspected,
QuotaExceeded, DocumentFailed, QuotaReleased, DocumentContentDeleted.
Produces: DocumentReady.
"""

from __future__ import annotations

import logging
import uuid
from typing import Final

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
from services.catalog.history import adopt_earlier_logs
from services.catalog.models import AppliedEvent, CatalogEntry, LoggedEvent

log = logging.getLogger("services.catalog")

_READY_IDS: Final = uuid.uuid5(uuid.NAMESPACE_URL, "chorus:catalog:documents.ready")
"""The namespace of the ids of DocumentReady (see :func:`ready_event_id`)."""


def ready_event_id(service: str, document_id: uuid.UUID) -> str:
    """The id of the one DocumentReady ``service`` announces for ``document_id``.

    Derived from the document, not from the event being handled: the inspection and
    the upload may each be the one that completes a ready document (the upload can
    arrive last), and two handlers that both see it complete announce one event,
    which consumers skip when it comes again.
    """
    return str(uuid.uuid5(_READY_IDS, f"{service}|{document_id}"))


def create_service(name: str = "catalog", settings: BusSettings | None = None) -> Service:
    """The catalog: each document's status, timeline and inspection metadata in MongoDB.

    Every handler applies its event through :mod:`services.catalog.updates`, which
    is idempotent and independent of the order events arrive in. Once the
    inspection of a document makes it ready and its upload is known, the catalog
    announces :class:`~contracts.DocumentReady`, with the owner and file name of the
    upload and what the inspection found.
    """
    service = Service(
        name,
        settings=settings,
        documents=[CatalogEntry, LoggedEvent, AppliedEvent],
        produces=[DocumentReady],
    )
    # Before subscribing: the log of a catalog kept by an earlier version is adopted.
    service.on_startup(adopt_earlier_logs)

    async def announce_ready(entry: CatalogEntry) -> None:
        inspection = entry.inspection or {}
        if entry.owner is None or entry.filename is None or "content_type" not in inspection:
            log.info("catalog: %s is ready; its upload is not in yet", entry.id)
            return
        await service.publish(
            DocumentReady(
                document_id=entry.id, owner=entry.owner, owner_email=entry.owner_email,
                filename=entry.filename, content_type=inspection["content_type"],
                language=inspection.get("language"),
            ),
            id=ready_event_id(service.name, entry.id),
        )  # fmt: skip

    @service.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded, envelope: Envelope) -> None:
        entry = await updates.apply_uploaded(event, event_id=envelope.id, at=envelope.time)
        if entry.status == "ready":
            # The upload came in after the inspection: it completes the document.
            await announce_ready(entry)

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
        # publishing): the id derives from the document, so consumers skip a repeat.
        await announce_ready(entry)

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
