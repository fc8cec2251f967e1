"""Dead letters: grouped by service and cause; one letter whole; replay or discard one or a
whole group, after a confirmation."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sse_starlette.sse import EventSourceResponse

from bus.deadletters import StoredDeadLetter, group_letters
from bus.deadletters.store import (
    BATCH,
    LetterFilter,
    discard_letters,
    find_letter,
    list_letters,
    request_replays,
    summaries,
)
from bus.settings import BusSettings
from bus.tools.console.auth import SessionDep
from bus.tools.console.csrf import ActionDep
from bus.tools.console.forms import Fields
from bus.tools.console.live import Traffic
from bus.tools.console.stream import live
from bus.tools.console.templating import fragment, page

router = APIRouter()

Action = Literal["replay", "discard"]

REFRESH = 5.0
"""Seconds between re-reading the store for the live view (notices trigger it sooner)."""


async def render(service: str | None, *, can_act: bool) -> str:
    where = LetterFilter(service=service or None)
    groups = group_letters(await summaries(where))
    letters = await list_letters(where, limit=50)
    return fragment("deadletters_table.html", groups=groups, letters=letters, service=service,
                    can_act=can_act)  # fmt: skip


@router.get("/deadletters", response_class=HTMLResponse)
async def deadletters_page(
    request: Request, session: SessionDep, service: str = "", done: str = ""
) -> HTMLResponse:
    table = await render(service, can_act=session.can_act)
    return page(request, "deadletters.html", table=table, service=service, done=done)


@router.get("/deadletters/stream")
async def deadletters_stream(
    request: Request, session: SessionDep, service: str = ""
) -> EventSourceResponse:
    traffic: Traffic = request.app.state.traffic
    cache = _Cache()

    async def current() -> str:
        notices = sum(traffic.dead_letters.values())
        now = time.monotonic()
        if notices != cache.notices or now - cache.at >= REFRESH:
            cache.notices, cache.at, cache.html = (
                notices,
                now,
                await render(service, can_act=session.can_act),
            )
        return cache.html

    return live(request, current)


@router.get("/deadletters/letter/{letter_id}", response_class=HTMLResponse)
async def letter_page(request: Request, session: SessionDep, letter_id: str) -> HTMLResponse:
    letter = await _letter(letter_id)
    envelope = letter.original_envelope()
    return page(request, "letter.html", letter=letter,
                envelope=json.dumps(envelope, indent=2) if envelope else None,
                job=json.dumps(letter.original_job(), indent=2) if letter.job or letter.job_json
                else None)  # fmt: skip


@router.post("/deadletters/letter/{letter_id}/{action}")
async def letter_action(
    request: Request,
    session: ActionDep,
    letter_id: str,
    action: Action,
    fields: Fields,
) -> Response:
    """Without ``confirmed``: the confirmation page. With it: do it, back to the list."""
    letter = await _letter(letter_id)
    if not fields.get("confirmed"):
        return page(request, "confirm.html", action=action, count=1,
                    what=f"dead letter {letter.id} ({letter.service}, {letter.kind}: "
                    f"{letter.reason})", target=request.url.path)  # fmt: skip
    settings: BusSettings = request.app.state.settings
    if action == "replay":
        await request_replays([letter], settings)
        done = f"asked {letter.service} to replay 1 dead letter"
    else:
        deleted = await discard_letters([letter.id], settings)
        done = f"discarded {deleted} dead letter(s)"
    return _back(done)


@router.post("/deadletters/group/{key}/{action}")
async def group_action(
    request: Request,
    session: ActionDep,
    key: str,
    action: Action,
    fields: Fields,
) -> Response:
    """Every letter of one group (see :func:`bus.deadletters.group_letters`), as above."""
    selected = await summaries(LetterFilter(group=key))
    if not selected:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dead letters in group {key}")
    if not fields.get("confirmed"):
        group = group_letters(selected)[0]
        return page(request, "confirm.html", action=action, count=len(selected),
                    what=f"group {key}: {group.service}, {group.kind}, {group.shape}",
                    target=request.url.path)  # fmt: skip
    settings: BusSettings = request.app.state.settings
    ids = [s.id for s in selected]
    if action == "replay":
        for start in range(0, len(ids), BATCH):
            batch = await StoredDeadLetter.find(
                {"_id": {"$in": ids[start : start + BATCH]}}
            ).to_list()
            await request_replays(batch, settings)
        done = f"asked for {len(ids)} replay(s)"
    else:
        done = f"discarded {await discard_letters(ids, settings)} dead letter(s)"
    return _back(done)


@dataclass
class _Cache:
    """The last rendering, re-read from the store on a new notice or after :data:`REFRESH`."""

    notices: int = -1
    at: float = 0.0
    html: str = ""


async def _letter(letter_id: str) -> StoredDeadLetter:
    letter = await find_letter(letter_id)
    if letter is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dead letter {letter_id}")
    return letter


def _back(done: str) -> Response:
    return RedirectResponse(f"/deadletters?{urlencode({'done': done})}", status.HTTP_303_SEE_OTHER)
