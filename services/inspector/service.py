"""The inspector service. Consumes: QuotaReserved. Produces: JobProgressed, DocumentInspected,
DocumentFailed (and JobSucceeded/JobFailed from the bus).

Once accounts has reserved quota for a document, the inspector reads its bytes from
storage in a job (one per document, however often it is asked for) and publishes what
they are, or why they cannot be inspected.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bus import BusSettings, GaveUp, JobContext, RetryPolicy, Service
from contracts import DocumentFailed, DocumentInspected, QuotaReserved
from services.inspector.config import InspectorSettings
from services.inspector.inspection import extract, identify, summarize
from services.inspector.language import detect_language
from services.inspector.models import InspectionError
from services.storage import BlobNotFoundError, BlobStorage, open_storage

log = logging.getLogger("services.inspector")

STAGE = "inspection"
"""``DocumentFailed.stage`` of the documents the inspector turns down."""

_FAILED_IDS = uuid.UUID("3d0c6c1e-8f5a-4b7e-9e21-6a4f0d2b7c55")

GIVE_UP_ON = (*RetryPolicy().give_up_on, PermissionError)
"""Errors the inspection job is not tried again for: bad input, and a stored file the
inspector may not read (trying again will not make it readable)."""


def failed_event_id(service: str, document_id: UUID) -> str:
    """The id of the one ``DocumentFailed`` the inspector publishes for a document.

    Whichever way it fails (the job turns the document down, the job fails for good, the
    reservation is poison) and however often that happens (a job or compensation that runs
    again, a dead letter replayed that fails again), it is the same event: consumers skip
    the repeats, so the owner gets one mail and quota is released once.
    """
    return str(uuid.uuid5(_FAILED_IDS, f"{service}|documents.failed|{document_id}"))


class _FailedDocument(BaseModel):
    """What ``DocumentFailed`` needs from a reservation, read leniently from one that
    failed its contract (a field this inspector does not know yet, say)."""

    model_config = ConfigDict(extra="ignore")

    document_id: UUID
    owner: str
    owner_email: str | None = None
    filename: str
    storage_url: str


class InspectionRequest(BaseModel):
    """The inspection job's keyword arguments: what it needs from ``QuotaReserved``."""

    document_id: UUID
    owner: str
    owner_email: str | None = None
    filename: str
    storage_url: str
    size_bytes: Annotated[int, Field(ge=0)]
    declared_content_type: str

    @classmethod
    def from_event(cls, event: QuotaReserved) -> InspectionRequest:
        return cls(
            document_id=event.document_id, owner=event.owner,
            owner_email=event.owner_email, filename=event.filename,
            storage_url=event.storage_url, size_bytes=event.size_bytes,
            declared_content_type=event.content_type,
        )  # fmt: skip


def create_service(
    name: str = "inspector",
    settings: BusSettings | None = None,
    config: InspectorSettings | None = None,
    storage: BlobStorage | None = None,
) -> Service:
    """The inspector: one deduplicated job per reserved document.

    Only a document's own bytes are read: a reservation whose storage URL is not the one
    storage gives that document id is ignored (logged), so that no event can have the
    bytes of one document inspected under the id of another.

    The job reads the bytes, detects their type with libmagic (the declared type is
    only recorded, never trusted), extracts the text of text files and PDFs, detects
    its language, and publishes :class:`~contracts.DocumentInspected` with progress
    (``JobProgressed``) at 10, 30, 60, 85 and 100 %. A document that cannot be
    inspected (missing from storage, empty, too large, unsupported type, corrupt or
    encrypted PDF) gets :class:`~contracts.DocumentFailed` and the job ends normally;
    any other error (a try longer than ``config.job_timeout`` among them) is retried by the
    job's policy (a file it may not read is not), then dead-lettered, and the job's
    compensation publishes ``DocumentFailed``. So does the compensation of a reservation
    the service gave up on (poison, or its handler failed for good). Each document gets
    at most one ``DocumentFailed`` id (:func:`failed_event_id`), so accounts releases its
    quota once, the gateway deletes its bytes and the owner gets one mail.

    Args:
        name: The service's name (its queue and shared subscription).
        settings: Bus connections; default: from the environment.
        config: What to analyse; default: ``INSPECTOR_*`` from the environment.
        storage: Where the bytes are; default: :func:`services.storage.open_storage`.
    """
    config = config or InspectorSettings()
    blobs = storage or open_storage()
    service = Service(name, settings=settings, produces=[DocumentInspected, DocumentFailed])
    retry = RetryPolicy(
        attempts=config.job_attempts, initial_delay=config.job_retry_delay,
        max_delay=max(30.0, config.job_retry_delay), give_up_on=GIVE_UP_ON,
    )  # fmt: skip

    async def inspection_given_up(gave_up: GaveUp) -> None:
        """The job failed for good (out of tries or time): the document failed."""
        request = InspectionRequest.model_validate(gave_up.kwargs or {})
        log.warning("%s: inspection of %s given up: %s", name, request.document_id,
                    gave_up.reason)  # fmt: skip
        await _publish_failed(service, request, f"the inspection failed: {gave_up.reason}")

    @service.job(timeout=config.job_timeout, retry=retry, on_give_up=inspection_given_up)
    async def inspect_document(job: JobContext, **kwargs: Any) -> dict[str, Any]:
        request = InspectionRequest.model_validate(kwargs)

        async def fail(reason: str) -> dict[str, Any]:
            log.info("%s: %s cannot be inspected: %s", name, request.document_id, reason)
            await job.publish_once(
                _document_failed(request, reason), id=failed_event_id(name, request.document_id)
            )
            return {"outcome": "failed", "reason": reason}

        if request.size_bytes > config.max_bytes:
            return await fail(
                f"the file is too large to inspect ({request.size_bytes} bytes, "
                f"at most {config.max_bytes})"
            )
        try:
            data = await blobs.read(request.storage_url)
        except BlobNotFoundError:
            return await fail("the stored file is gone (deleted, or never stored)")
        await job.progress(10, f"read {len(data)} bytes")
        try:
            sniffed = await asyncio.to_thread(identify, data, config)
            await job.progress(30, f"detected {sniffed.content_type}")
            extracted = await asyncio.to_thread(extract, data, sniffed, config)
            await job.progress(60, _extracted_message(extracted.text, extracted.page_count))
        except InspectionError as exc:
            return await fail(exc.reason)
        language = None
        if extracted.text:
            language = await asyncio.to_thread(detect_language, extracted.text, config)
        await job.progress(85, f"language: {language or 'none found'}")
        inspection = await asyncio.to_thread(
            summarize, data, request.filename, sniffed, extracted, language
        )
        details = {**inspection.details, "declared_content_type": request.declared_content_type}
        await job.progress(100, "inspected")
        await job.publish(
            DocumentInspected(
                document_id=request.document_id, owner=request.owner,
                owner_email=request.owner_email, filename=request.filename,
                content_type=inspection.content_type, sha256=inspection.sha256,
                size_bytes=inspection.size_bytes, language=inspection.language,
                word_count=inspection.word_count, page_count=inspection.page_count,
                details=details,
            )
        )  # fmt: skip
        return {
            "outcome": "inspected",
            "content_type": inspection.content_type,
            "language": inspection.language,
        }

    @service.on(QuotaReserved)
    async def on_quota_reserved(event: QuotaReserved) -> None:
        own_url = blobs.url_for(event.document_id)
        if event.storage_url != own_url:
            # Storage keeps a document's bytes at the URL of its id: any other URL is
            # another document's (or none), and reading it would inspect, and announce,
            # someone else's file under this id.
            log.warning(
                "%s: not inspecting %s: its storage URL %r is not the document's own (%r)",
                name, event.document_id, event.storage_url, own_url,
            )  # fmt: skip
            return
        request = InspectionRequest.from_event(event)
        key = str(request.document_id)
        kwargs = request.model_dump(mode="json")
        if not await service.enqueue(inspect_document, key=key, **kwargs):
            log.info("%s: inspection of %s was already asked for", name, key)

    @service.compensate(QuotaReserved)
    async def reservation_given_up(event: QuotaReserved | None, gave_up: GaveUp) -> None:
        """A reservation the inspector gave up on (poison, or its handler failed for
        good): the document failed. One that fails its contract (from accounts: the bus
        checked its source) still names the document; one that names none is left be."""
        if (document := _named_document(name, event, gave_up)) is not None:
            reason = f"the reservation was given up on: {gave_up.reason}"
            await _publish_failed(service, document, reason)

    return service


async def _publish_failed(
    service: Service, document: _FailedDocument | InspectionRequest, reason: str
) -> None:
    failed = _document_failed(document, reason)
    await service.publish(failed, id=failed_event_id(service.name, document.document_id))


def _document_failed(document: _FailedDocument | InspectionRequest, reason: str) -> DocumentFailed:
    return DocumentFailed(
        document_id=document.document_id, owner=document.owner,
        owner_email=document.owner_email, filename=document.filename,
        storage_url=document.storage_url, stage=STAGE, reason=reason[:2000],
    )  # fmt: skip


def _named_document(
    name: str, event: QuotaReserved | None, gave_up: GaveUp
) -> _FailedDocument | None:
    if event is not None:
        return _FailedDocument.model_validate(event.model_dump())
    assert gave_up.envelope is not None  # the bus compensates no unreadable letter
    try:
        return _FailedDocument.model_validate(gave_up.envelope.data)
    except ValidationError as exc:
        log.error("%s: reservation %s given up on names no document (%s); nothing to "
                  "compensate", name, gave_up.envelope.id, exc)  # fmt: skip
        return None


def _extracted_message(text: str | None, pages: int | None) -> str:
    if text is None:
        return "no text in an image"
    pages_part = f" from {pages} page{'s' if pages != 1 else ''}" if pages is not None else ""
    return f"extracted {len(text)} characters{pages_part}"


service = create_service()
