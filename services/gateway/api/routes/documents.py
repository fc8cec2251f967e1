"""Uploading documents and following them through the pipeline."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Query, Request, Response
from sse_starlette import EventSourceResponse

from contracts import DocumentUploaded
from contracts.documents.uploaded import USER_AGENT_MAX_LENGTH
from services.catalog import TERMINAL_STATUSES, find_document, list_documents
from services.gateway.api.deps import GatewayDep, UserDep
from services.gateway.api.responses import (
    INVALID,
    NOT_FOUND,
    SSE_STREAM,
    UNAUTHENTICATED,
    error,
    header,
)
from services.gateway.errors import ApiError
from services.gateway.state import Gateway
from services.gateway.uploads import MEDIA_TYPE, receive_upload
from services.gateway.views import Accepted, DocumentView
from services.i18n import Message, _, negotiate

router = APIRouter(
    prefix="/documents",
    tags=["documents"],
    responses={**UNAUTHENTICATED, **INVALID},
)

# The handler reads the body itself, as it streams (services.gateway.uploads): FastAPI
# must not parse it, so the form is declared here instead of in the signature.
_UPLOAD_BODY = {
    "required": True,
    "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/DocumentUpload"}}},
}


def user_agent(request: Request) -> str | None:
    """The client's ``User-Agent``, for the record: None if it sends none; one longer than
    the contract takes keeps its first characters and ends in ``…`` (one character), so
    that a reader sees it was cut."""
    value = request.headers.get("user-agent", "").strip()
    if len(value) > USER_AGENT_MAX_LENGTH:
        value = value[: USER_AGENT_MAX_LENGTH - 1] + "…"
    return value or None


def _quota_refusal(used: int, limit: int, english: str) -> Message:
    """Why the owner may upload no more: the documents used up, or (rarely, since nothing
    is read yet) bytes already over the limit, in accounts' own words."""
    if used + 1 > limit:
        return _("document quota exhausted: {used} of {limit} used", used=used, limit=limit)
    return Message(english)


@router.post(
    "",
    status_code=202,
    response_description="Stored; processing goes on behind",
    responses={
        202: {"headers": {"Location": header("Where to follow the document")}},
        400: error(
            "The multipart body cannot be read ('invalid_multipart'), holds more than one"
            " file ('too_many_files') or ends early ('incomplete_upload')"
        ),
        403: error("The owner's quota is used up ('quota_exceeded')"),
        413: error("The file is larger than the limit ('too_large')"),
        415: error("Not a multipart/form-data request ('unsupported_media_type')"),
        422: error("No file field ('missing_file'), or an empty file ('empty_file')"),
        503: error("The upload could not be announced on the bus ('bus_unavailable')"),
    },
    openapi_extra={"requestBody": _UPLOAD_BODY},
)
async def upload(
    request: Request, response: Response, user: UserDep, gateway: GatewayDep
) -> Accepted:
    """Store a file (multipart field ``file``) and start its processing.

    Answers 202 at once, with the document id and a ``Location`` to poll; the
    pipeline (quota, inspection, catalog, mail) runs behind it. Quota is checked
    here only as far as it is known before the body is read (no documents left);
    ``accounts`` has the final word and may still reject the document.

    The upload records the client's ``User-Agent`` (cut to 512 characters) and the
    language negotiated from ``Accept-Language`` (English or German), in which the
    owner is mailed.
    """
    quota = await gateway.accounts.quota(user.user_id)
    if quota is not None and not quota.allows(0):
        refusal = _quota_refusal(
            quota.documents_used, quota.max_documents, quota.describe_refusal(0)
        )
        raise ApiError(403, "quota_exceeded", refusal)
    document_id = uuid4()
    received = await receive_upload(
        request, gateway.storage, document_id, limit=gateway.config.max_upload_bytes
    )
    await gateway.remember_upload(document_id, user.user_id, received.filename)
    try:
        await gateway.service.publish(
            DocumentUploaded(
                document_id=document_id, owner=user.user_id, owner_email=user.email,
                filename=received.filename, size_bytes=received.size,
                content_type=received.declared_type, storage_url=received.url,
                user_agent=user_agent(request),
                locale=negotiate(request.headers.get("accept-language")),
            )
        )  # fmt: skip
    except Exception as exc:
        await gateway.forget_upload(document_id)
        await gateway.storage.delete(received.url)
        detail = _("the upload could not be announced: {problem}", problem=exc)
        raise ApiError(503, "bus_unavailable", detail) from exc
    location = str(request.url_for("get_document", document_id=str(document_id)).path)
    response.headers["Location"] = location
    return Accepted(document_id=document_id, location=location)


async def _view(gateway: Gateway, document_id: UUID, owner: str) -> DocumentView:
    entry = await find_document(document_id, owner)
    if entry is not None:
        return DocumentView.of(entry)
    filename = await gateway.pending_upload(document_id, owner)
    if filename is None:
        raise ApiError(404, "not_found", _("no document {document_id}", document_id=document_id))
    return DocumentView(id=document_id, status="uploaded", filename=filename)


@router.get("", summary="List your documents")
async def list_mine(
    user: UserDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[DocumentView]:
    """Your newest documents first."""
    return [DocumentView.of(entry) for entry in await list_documents(user.user_id, limit=limit)]


@router.get("/{document_id}", responses=NOT_FOUND)
async def get_document(
    document_id: UUID,
    user: UserDep,
    gateway: GatewayDep,
    wait: Annotated[
        float, Query(ge=0, description="Seconds to wait for the status to change (long poll)")
    ] = 0,
) -> DocumentView:
    """The document's state and metadata; with ``?wait=N``, answer as soon as its
    status changes, or after N seconds (at most the configured maximum)."""
    view = await _view(gateway, document_id, user.user_id)
    deadline = time.monotonic() + min(wait, gateway.config.max_wait)
    first = view.status
    while view.status == first and first not in TERMINAL_STATUSES:
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(gateway.config.poll_interval)
        view = await _view(gateway, document_id, user.user_id)
    return view


@router.get(
    "/{document_id}/events",
    response_class=EventSourceResponse,
    responses={200: SSE_STREAM, **NOT_FOUND},
)
async def document_events(
    document_id: UUID, request: Request, user: UserDep, gateway: GatewayDep
) -> EventSourceResponse:
    """Server-Sent Events: each step of the document's timeline as it happens (event
    ``status`` or ``progress``), ending after ``ready``, ``rejected`` or ``failed``."""
    await _view(gateway, document_id, user.user_id)  # 404 before the stream starts

    async def steps() -> AsyncIterator[dict[str, str]]:
        sent = 0
        while True:
            view = await _view(gateway, document_id, user.user_id)
            for item in view.timeline[sent:]:
                kind = "progress" if item.percent is not None else "status"
                yield {"event": kind, "data": item.model_dump_json()}
            sent = len(view.timeline)
            if view.status in TERMINAL_STATUSES:
                yield {"event": "end", "data": json.dumps({"status": view.status})}
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(gateway.config.poll_interval)

    return EventSourceResponse(steps(), ping=15)
