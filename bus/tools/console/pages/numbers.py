"""Numbers: per service, what it published and its dead letters, per second over the last
minutes, as small charts; counted by the console from the bus itself.

Handler latencies, retries and job queue depth live in each replica's own Prometheus
``/metrics`` (``bus run --ops-port``); the console does not read them yet: a presence
does not say where a replica serves them.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sse_starlette.sse import EventSourceResponse

from bus.tools.console.auth import SessionDep
from bus.tools.console.live import HISTORY, Presences, Traffic
from bus.tools.console.stream import live
from bus.tools.console.templating import fragment, page

router = APIRouter()

WIDTH, HEIGHT = 300.0, 36.0


@dataclass(frozen=True, slots=True)
class Row:
    """One service's numbers: totals since the console started, the last minute, a chart."""

    service: str
    replicas: int
    produced: int
    produced_last_minute: int
    dead: int
    dead_last_minute: int
    chart: str


def sparkline(values: list[int], dead: list[int]) -> str:
    """An inline SVG of per-second counts: published in green, dead letters in red."""
    top = max([1, *values, *dead])
    step = WIDTH / max(len(values) - 1, 1)

    def points(series: list[int]) -> str:
        return " ".join(
            f"{i * step:.1f},{HEIGHT - 2 - (HEIGHT - 4) * v / top:.1f}"
            for i, v in enumerate(series)
        )

    return (
        f'<svg class="spark" width="{WIDTH:.0f}" height="{HEIGHT:.0f}" '
        f'viewBox="0 0 {WIDTH:.0f} {HEIGHT:.0f}" role="img" aria-label="per second">'
        f'<polyline class="produced" points="{points(values)}"/>'
        f'<polyline class="dead" points="{points(dead)}"/>'
        f'<text x="2" y="10">max {top}/s</text></svg>'
    )


def rows(presences: Presences, traffic: Traffic) -> list[Row]:
    running: dict[str, int] = {}
    for sighting in presences.sightings():
        running[sighting.presence.service] = running.get(sighting.presence.service, 0) + 1
    names = sorted({*running, *traffic.produced_per_second.keys(), *traffic.dead_letters})
    found = []
    for name in names:
        produced = traffic.produced_per_second.values(name)
        dead = traffic.dead_per_second.values(name)
        found.append(
            Row(
                service=name,
                replicas=running.get(name, 0),
                produced=sum(n for (service, _), n in traffic.produced.items() if service == name),
                produced_last_minute=sum(produced[-60:]),
                dead=traffic.dead_letters[name],
                dead_last_minute=sum(dead[-60:]),
                chart=sparkline(produced, dead),
            )
        )
    return found


def render(presences: Presences, traffic: Traffic) -> str:
    return fragment("numbers_table.html", rows=rows(presences, traffic), minutes=HISTORY // 60)


@router.get("/numbers", response_class=HTMLResponse)
async def numbers_page(request: Request, session: SessionDep) -> HTMLResponse:
    state = request.app.state
    return page(request, "numbers.html", table=render(state.presences, state.traffic))


@router.get("/numbers/stream")
async def numbers_stream(request: Request, session: SessionDep) -> EventSourceResponse:
    state = request.app.state

    async def current() -> str:
        return render(state.presences, state.traffic)

    return live(request, current)
