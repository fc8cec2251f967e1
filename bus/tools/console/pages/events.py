"""Events: a live tail with filters (type, service, correlation id); an event opens its
causal chain from the journal, as a timeline drawn as a tree."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sse_starlette.sse import EventSourceResponse

from bus.envelope import Envelope
from bus.journal import JournalEntry, chain
from bus.tools.console.auth import SessionDep
from bus.tools.console.live import Traffic
from bus.tools.console.stream import live
from bus.tools.console.templating import fragment, page
from contracts import UnknownEventError, by_type

router = APIRouter()

SHOWN = 100
"""Events the tail shows, newest first."""


@dataclass(frozen=True, slots=True)
class TailFilter:
    """Which events the tail shows; an empty field admits all."""

    type: str = ""
    service: str = ""
    correlation: str = ""

    def admits(self, envelope: Envelope) -> bool:
        service = envelope.source.strip("/").split("/", 1)[0]
        return (
            (not self.type or envelope.type == self.type)
            and (not self.service or service == self.service)
            and (not self.correlation or envelope.correlation == self.correlation)
        )


def render(traffic: Traffic, where: TailFilter) -> str:
    shown = [e for e in reversed(traffic.recent) if where.admits(e)][:SHOWN]
    return fragment("events_table.html", events=shown, connected=traffic.connected)


@router.get("/events", response_class=HTMLResponse)
async def events_page(
    request: Request, session: SessionDep, type: str = "", service: str = "", correlation: str = ""
) -> HTMLResponse:
    where = TailFilter(type.strip(), service.strip(), correlation.strip())
    return page(request, "events.html", where=where, table=render(request.app.state.traffic, where))


@router.get("/events/stream")
async def events_stream(
    request: Request, session: SessionDep, type: str = "", service: str = "", correlation: str = ""
) -> EventSourceResponse:
    traffic: Traffic = request.app.state.traffic
    where = TailFilter(type.strip(), service.strip(), correlation.strip())

    async def current() -> str:
        return render(traffic, where)

    return live(request, current)


@dataclass(frozen=True, slots=True)
class Step:
    """One event of a chain: its depth under the event that caused it, and when it came
    after the chain's first event."""

    entry: JournalEntry
    depth: int
    offset_ms: float
    data: str


def as_tree(entries: list[JournalEntry]) -> list[Step]:
    """The chain depth-first from its roots (events whose cause is not in it), children in
    time order: read top to bottom, it is a timeline; indented, a tree."""
    if not entries:
        return []
    ids = {e.id for e in entries}
    children: dict[str | None, list[JournalEntry]] = {}
    for entry in sorted(entries, key=lambda e: e.time):
        parent = entry.causationid if entry.causationid in ids else None
        children.setdefault(parent, []).append(entry)
    start = min(e.time for e in entries)
    steps: list[Step] = []

    def visit(entry: JournalEntry, depth: int) -> None:
        data = json.dumps(entry.envelope.get("data"), indent=1, default=str)
        steps.append(Step(entry, depth, _ms(entry.time, start), data))
        for child in children.get(entry.id, []):
            visit(child, depth + 1)

    for root in children.get(None, []):
        visit(root, 0)
    return steps


def _ms(moment: datetime, start: datetime) -> float:
    return (moment - start).total_seconds() * 1000


@router.get("/chain/{event_id}", response_class=HTMLResponse)
async def chain_page(request: Request, session: SessionDep, event_id: str) -> HTMLResponse:
    """The causal chain of one event, from the journal."""
    entry = await JournalEntry.get(event_id)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"event {event_id} is not in the journal")
    correlation = entry.correlationid or entry.id
    steps = as_tree(await chain(correlation))
    return page(request, "chain.html", event_id=event_id, correlation=correlation, steps=steps)


@router.get("/documents")
async def document_search(session: SessionDep, document_id: str = "") -> Response:
    return RedirectResponse(f"/documents/{quote(document_id.strip(), safe='')}",
                            status.HTTP_303_SEE_OTHER)  # fmt: skip


CATALOG = "catalog"
"""The reference catalog's read model (``services.catalog``): one document per upload,
``key`` its document id, ``timeline`` the ids of the events it applied."""


@router.get("/documents/{document_id}", response_class=HTMLResponse)
async def document_page(request: Request, session: SessionDep, document_id: str) -> HTMLResponse:
    """The reference system's view of one upload: its events across services, from the
    journal, as a timeline drawn as a tree."""
    steps = as_tree(await document_events(document_id))
    services = sorted({s.entry.source.strip("/").split("/", 1)[0] for s in steps})
    return page(request, "document.html", document_id=document_id, steps=steps,
                services=services)  # fmt: skip


async def document_events(document_id: str) -> list[JournalEntry]:
    """The upload's causal chain, found through the catalog's entry (an indexed read, then
    the chain by correlation id); without one (no catalog runs here), every journaled event
    whose data names the document, which reads the whole journal."""
    journal = JournalEntry.get_pymongo_collection()
    entry = await journal.database[CATALOG].find_one({"key": document_id}, {"timeline": 1})
    for applied in (entry or {}).get("timeline", []):
        known = await JournalEntry.get(applied.get("event_id", ""))
        if known is not None:
            return await chain(known.correlationid or known.id)
    return await JournalEntry.find({"envelope.data.document_id": document_id}).to_list()


@router.get("/types/{event_type}", response_class=HTMLResponse)
async def type_page(request: Request, session: SessionDep, event_type: str) -> HTMLResponse:
    """One event type: its contract's JSON Schema, and its newest events seen."""
    try:
        event = by_type(event_type)
    except UnknownEventError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no event type {event_type}") from None
    schema = json.dumps(event.model_json_schema(), indent=2)
    traffic: Traffic = request.app.state.traffic
    where = TailFilter(type=event_type)
    return page(request, "event.html", event=event, event_type=event_type, schema=schema,
                topic=event.contract.topic, table=render(traffic, where), where=where)  # fmt: skip
