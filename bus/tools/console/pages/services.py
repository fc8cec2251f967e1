"""Services: every replica from its presence, live; stale and dead ones marked."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sse_starlette.sse import EventSourceResponse

from bus.discovery import STALE_AFTER
from bus.tools.console.auth import SessionDep
from bus.tools.console.live import Presences
from bus.tools.console.stream import live
from bus.tools.console.templating import fragment, page

router = APIRouter()


def render(presences: Presences) -> str:
    return fragment(
        "services_table.html",
        sightings=presences.sightings(),
        gone=presences.departed(),
        unreadable=sorted(presences.unreadable.items()),
        connected=presences.connected,
        stale_after=STALE_AFTER,
    )


@router.get("/services", response_class=HTMLResponse)
async def services_page(request: Request, session: SessionDep) -> HTMLResponse:
    return page(request, "services.html", table=render(request.app.state.presences))


@router.get("/services/stream")
async def services_stream(request: Request, session: SessionDep) -> EventSourceResponse:
    presences: Presences = request.app.state.presences

    async def current() -> str:
        return render(presences)

    return live(request, current)
