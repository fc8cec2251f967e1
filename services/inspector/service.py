"""The inspector service. Consumes: QuotaReserved. Produces: JobProgressed, DocumentInspected,
DocumentFailed (and JobSucceeded/JobFailed from the bus).

Once accounts has reserved quota for a document, the inspector reads its bytes from
storage in a job (one per document, however often it is asked for) and publishes what
they are, or why they cannot be inspected.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, Field

from bus import BusSettings, JobContext, RetryPolicy, Service
from contracts import DocumentFailed, DocumentInspected, QuotaReserved
from services.inspector.config import InspectorSettings
from services.inspector.inspection import extract, identify, summarize
from services.inspector.language import detect_language
from services.inspector.models import InspectionError
from services.storage import BlobNotFoundError, BlobStorage, open_storage

log = logging.getLogger("services.inspector")

STAGE = "inspection"
"""``DocumentFailed.stage`` of the documents the inspector turns down."""


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
    any other error is retried by the job's policy, then dead-lettered.

    Args:
        name: The service's name (its queue and shared subscription).
        settings: Bus connections; default: from the environment.
        config: What to analyse; default: ``INSPECTOR_*`` from the environment.
        storage: Where the bytes are; default: :func:`services.storage.open_storage`.
    """
    config = config or InspectorSettings()
    blobs = storage or open_storage()
    service = Service(name, settings=settings, produces=[DocumentInspected, DocumentFailed])
    retry = RetryPolicy(attempts=config.job_attempts, initial_delay=1.0, max_delay=30.0)

    @service.job(timeout=config.job_timeout, retry=retry)
    async def inspect_document(job: JobContext, **kwargs: Any) -> dict[str, Any]:
        request = InspectionRequest.model_validate(kwargs)

        async def fail(reason: str) -> dict[str, Any]:
            log.info("%s: %s cannot be inspected: %s", name, request.document_id, reason)
            await job.publish(
                DocumentFailed(
                    document_id=request.document_id, owner=request.owner,
                    owner_email=request.owner_email, filename=request.filename,
                    storage_url=request.storage_url, stage=STAGE, reason=reason[:2000],
                )
            )  # fmt: skip
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

    return service


def _extracted_message(text: str | None, pages: int | None) -> str:
    if text is None:
        return "no text in an image"
    pages_part = f" from {pages} page{'s' if pages != 1 else ''}" if pages is not None else ""
    return f"extracted {len(text)} characters{pages_part}"


service = create_service()
