"""Archives of one's ready documents: asked for, followed, downloaded."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from sse_starlette import EventSourceResponse

from contracts import ExportRequested
from services.exporter import download_name, find_export, list_exports, local_path
from services.gateway.api.deps import GatewayDep, UserDep
from services.gateway.api.responses import INVALID, UNAUTHENTICATED, Responses, error, header
from services.gateway.errors import ApiError
from services.gateway.exports import (
    EXPORT_TERMINAL,
    ExportAccepted,
    ExportProgress,
    ExportView,
    export_view,
    forget_export,
    remember_export,
)
from services.gateway.state import Gateway

router = APIRouter(
    prefix="/exports",
    tags=["exports"],
    responses={**UNAUTHENTICATED, **INVALID},
)

NOT_FOUND: Responses = {404: error("No such export of yours ('not_found')")}

EXPORT_STREAM: dict[str, Any] = {
    "description": (
        "Server-Sent Events: where the export stands, as it changes; a comment line every"
        " 15 s keeps the stream open."
    ),
    "content": {
        "text/event-stream": {
            "itemSchema": {
                "title": "ExportEvent",
                "type": "object",
                "properties": {
                    "event": {"type": "string", "enum": ["status", "progress", "end"]},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "description": "For 'status' and 'progress', an ExportProgress; for"
                        " the last event, 'end', the ExportView",
                    },
                },
                "required": ["event", "data"],
            }
        }
    },
}


ARCHIVE_TYPES = ("application/gzip", "application/octet-stream")
"""What ``/download`` answers in: the archive's own type first."""


def _archive_type(accept: str | None) -> str:
    accepted = {part.split(";", 1)[0].strip().lower() for part in (accept or "").split(",")}
    wanted = [media for media in ARCHIVE_TYPES if media in accepted]
    return wanted[0] if wanted else ARCHIVE_TYPES[0]


def _download_path(request: Request, export_id: UUID) -> str:
    return str(request.url_for("download_export", export_id=str(export_id)).path)


async def _view(request: Request, gateway: Gateway, export_id: UUID, owner: str) -> ExportView:
    view = await export_view(gateway.redis, export_id, owner, _download_path(request, export_id))
    if view is None:
        raise ApiError(404, "not_found", f"no export {export_id}")
    return view


@router.post(
    "",
    status_code=202,
    response_description="Asked for; the archive is written behind",
    responses={
        202: {"headers": {"Location": header("Where to follow the export")}},
        503: error("The request could not be announced on the bus ('bus_unavailable')"),
    },
)
async def request_export(
    request: Request, response: Response, user: UserDep, gateway: GatewayDep
) -> ExportAccepted:
    """Ask for a tar.gz of all your ready documents.

    Answers 202 at once with a ``Location`` to poll (or ``/events`` to listen to); the
    exporter writes the archive behind it, with progress per document. Once ``ready``,
    ``/exports/{id}/download`` serves it until it expires (24 h by default).
    """
    export_id = uuid4()
    await remember_export(gateway.redis, export_id, user.user_id, gateway.config.upload_record_ttl)
    try:
        await gateway.service.publish(
            ExportRequested(export_id=export_id, owner=user.user_id, owner_email=user.email)
        )
    except Exception as exc:
        await forget_export(gateway.redis, export_id)
        raise ApiError(503, "bus_unavailable", f"the export could not be announced: {exc}") from exc
    location = str(request.url_for("get_export", export_id=str(export_id)).path)
    response.headers["Location"] = location
    return ExportAccepted(export_id=export_id, location=location)


@router.get("", summary="List your exports")
async def list_my_exports(
    request: Request, user: UserDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[ExportView]:
    """Your newest exports first (those the exporter has recorded)."""
    return [
        ExportView.of(record, _download_path(request, record.id))
        for record in await list_exports(user.user_id, limit=limit)
    ]


@router.get("/{export_id}", responses=NOT_FOUND)
async def get_export(
    export_id: UUID,
    request: Request,
    user: UserDep,
    gateway: GatewayDep,
    wait: Annotated[
        float, Query(ge=0, description="Seconds to wait for the status to change (long poll)")
    ] = 0,
) -> ExportView:
    """The export's status and progress; with ``?wait=N``, answer as soon as its status
    changes, or after N seconds (at most the configured maximum)."""
    view = await _view(request, gateway, export_id, user.user_id)
    deadline = time.monotonic() + min(wait, gateway.config.max_wait)
    first = view.status
    while view.status == first and first not in EXPORT_TERMINAL:
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(gateway.config.poll_interval)
        view = await _view(request, gateway, export_id, user.user_id)
    return view


@router.get(
    "/{export_id}/events",
    response_class=EventSourceResponse,
    responses={200: EXPORT_STREAM, **NOT_FOUND},
)
async def export_events(
    export_id: UUID, request: Request, user: UserDep, gateway: GatewayDep
) -> EventSourceResponse:
    """Server-Sent Events: ``status`` when the status changes, ``progress`` when more
    documents are archived (as often as the stream looks: steps in between may be
    merged), then ``end`` with the export once it is ``ready``, ``failed`` or ``expired``."""
    await _view(request, gateway, export_id, user.user_id)  # 404 before the stream starts

    async def steps() -> AsyncIterator[dict[str, str]]:
        last: ExportProgress | None = None
        while True:
            view = await _view(request, gateway, export_id, user.user_id)
            now = ExportProgress.model_validate(view.model_dump())
            if last is None or now.status != last.status:
                yield {"event": "status", "data": now.model_dump_json()}
            elif now != last:
                yield {"event": "progress", "data": now.model_dump_json()}
            last = now
            if view.status in EXPORT_TERMINAL:
                yield {"event": "end", "data": view.model_dump_json()}
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(gateway.config.poll_interval)

    return EventSourceResponse(steps(), ping=15)


@router.get(
    "/{export_id}/download",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The archive: a folder of your ready documents, as tar.gz",
            "content": {
                # The same bytes either way: application/gzip unless the client accepts
                # only application/octet-stream (as generated clients of binary bodies do).
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in ARCHIVE_TYPES
            },
            "headers": {
                "Content-Disposition": header('attachment; filename="chorus-export-….tar.gz"'),
                "Content-Length": header("Bytes of the archive", integer=True),
                "Repr-Digest": header("The archive's SHA-256 (RFC 9530): sha-256=:<base64>:"),
            },
        },
        206: {
            "description": "The part of the archive a Range header asked for",
            "content": {
                m: {"schema": {"type": "string", "format": "binary"}} for m in ARCHIVE_TYPES
            },
        },
        **NOT_FOUND,
        409: error("Not written yet ('not_ready'), or never will be ('export_failed')"),
        410: error("Past its expiry: the archive is deleted ('expired'); ask for a new one"),
    },
)
async def download_export(
    export_id: UUID, request: Request, user: UserDep, gateway: GatewayDep
) -> FileResponse:
    """The archive, while it is ready (only to its owner). Range requests are served."""
    record = await find_export(export_id, user.user_id)
    if record is None:
        if await export_view(gateway.redis, export_id, user.user_id, "") is None:
            raise ApiError(404, "not_found", f"no export {export_id}")
        raise ApiError(409, "not_ready", f"export {export_id} is requested, not written yet")
    if record.status == "failed":
        raise ApiError(409, "export_failed", f"export {export_id} failed: {record.reason}")
    expired = ApiError(410, "expired", f"export {export_id} has expired; ask for a new one")
    if record.status == "expired":
        raise expired
    if record.status != "ready" or record.storage_url is None or record.sha256 is None:
        raise ApiError(409, "not_ready", f"export {export_id} is {record.status}, not ready")
    expires = record.expires_at
    if expires is not None and expires.replace(tzinfo=expires.tzinfo or UTC) <= datetime.now(UTC):
        raise expired
    path = local_path(gateway.storage, record.storage_url)
    if not await asyncio.to_thread(path.is_file):
        raise expired  # purged a moment ago
    digest = base64.b64encode(bytes.fromhex(record.sha256)).decode()
    name = download_name(record.id, record.created_at) + ".tar.gz"
    return FileResponse(
        path, media_type=_archive_type(request.headers.get("accept")), filename=name,
        headers={"Repr-Digest": f"sha-256=:{digest}:"},
    )  # fmt: skip
