"""Numbers: per service, as small charts over the last minutes, updated live:

- what it published and its dead letters, counted by the console from the bus itself;
- its throughput, handler p50/p99, retries and job queue depth, from its replicas' own
  ``/metrics`` (:mod:`bus.tools.console.metrics`), for the replicas whose presence says
  where they serve them (``bus run --ops-port``, which ``make up`` gives each one); a
  service none of whose replicas does shows "no metrics".
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sse_starlette.sse import EventSourceResponse

from bus.tools.console.auth import SessionDep
from bus.tools.console.live import HISTORY, Presences, Traffic
from bus.tools.console.metrics import Measurements, Point, ServiceNumbers
from bus.tools.console.stream import live
from bus.tools.console.templating import fragment, page

router = APIRouter()

WIDTH, HEIGHT = 300.0, 36.0

NONE = "-"
"""Shown for a figure with nothing behind it (no event handled, no job queue)."""

Line = list[tuple[float, float | None]]
"""A chart's line: (x from 0 to 1, value or None for a gap)."""


@dataclass(frozen=True, slots=True)
class Measured:
    """A service's numbers from its replicas' ``/metrics``, over the last minute."""

    rate: str
    p50: str
    p99: str
    retries: str
    queue: str
    charts: str
    note: str


@dataclass(frozen=True, slots=True)
class Row:
    """One service's numbers: totals since the console started, the last minute, charts.

    ``measured`` is None when none of its replicas' metrics could be read (``missing``
    says why)."""

    service: str
    replicas: int
    produced: int
    produced_last_minute: int
    dead: int
    dead_last_minute: int
    chart: str
    measured: Measured | None
    missing: str


def chart(lines: dict[str, Line], *, caption: str, label: str) -> str:
    """An inline SVG with one polyline per CSS class, scaled to the highest value; a
    None value breaks its line, and a point alone between breaks is drawn as a dot."""
    top = max([v for line in lines.values() for _, v in line if v is not None], default=0.0)
    top = top or 1.0

    def polylines(css: str, line: Line) -> str:
        runs: list[list[tuple[float, float]]] = [[]]
        for x, value in line:
            if value is None:
                runs.append([])
            else:
                runs[-1].append((x * WIDTH, HEIGHT - 2 - (HEIGHT - 4) * value / top))
        drawn = []
        for run in filter(None, runs):
            if len(run) == 1:
                (x, y), *_ = run
                drawn.append(f'<circle class="{css}" cx="{x:.1f}" cy="{y:.1f}" r="1.8"/>')
            else:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                drawn.append(f'<polyline class="{css}" points="{points}"/>')
        return "".join(drawn)

    return (
        f'<svg class="spark" width="{WIDTH:.0f}" height="{HEIGHT:.0f}" '
        f'viewBox="0 0 {WIDTH:.0f} {HEIGHT:.0f}" role="img" aria-label="{label}">'
        + "".join(polylines(css, line) for css, line in lines.items())
        + f'<text x="2" y="10">{caption.format(top=_number(top))}</text></svg>'
    )


def sparkline(values: Sequence[float], dead: Sequence[float]) -> str:
    """Per-second counts: published in green, dead letters in red."""
    step = 1 / max(len(values) - 1, 1)
    return chart(
        {
            "produced": [(i * step, float(v)) for i, v in enumerate(values)],
            "dead": [(i * step, float(v)) for i, v in enumerate(dead)],
        },
        caption="max {top}/s",
        label="published and dead letters per second",
    )


def timelines(points: Sequence[Point], now: float) -> str:
    """The metrics' charts: events per second; handler p50 and p99 in milliseconds;
    retries per reading and the job queue."""

    def x(point: Point) -> float:
        return min(max(1 - (now - point.at) / HISTORY, 0.0), 1.0)

    def ms(value: float | None) -> float | None:
        return None if value is None else value * 1000

    return "".join(
        (
            chart({"rate": [(x(p), p.rate) for p in points]},
                  caption="handled, max {top}/s", label="events handled per second"),
            chart({"p50": [(x(p), ms(p.quantile(0.5))) for p in points],
                   "p99": [(x(p), ms(p.quantile(0.99))) for p in points]},
                  caption="p50 · p99, max {top} ms", label="handler time p50 and p99"),
            chart({"retries": [(x(p), p.retries) for p in points],
                   "queue": [(x(p), p.jobs_in_queue) for p in points]},
                  caption="retries · job queue, max {top}", label="retries and job queue"),
        )
    )  # fmt: skip


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    return f"{seconds:.3g} s"


def measured(numbers: ServiceNumbers | None, now: float) -> tuple[Measured | None, str]:
    """A service's metrics figures and charts, or None and why there are none."""
    if numbers is None or (not numbers.measured and not numbers.points):
        if numbers is not None and numbers.problems:
            return None, "no metrics: " + "; ".join(numbers.problems)
        return None, "no metrics (no replica says where it serves /metrics)"
    summary = numbers.summary(now)
    note = ""
    if numbers.unmeasured:
        total = numbers.measured + numbers.unmeasured
        note = f"{numbers.unmeasured} of {total} replicas unread"
    if summary is None:  # read once: the next reading gives the first numbers
        return Measured("…", "…", "…", "…", "…", timelines([], now), note), ""
    queue = NONE if summary.jobs_in_queue is None else _number(summary.jobs_in_queue)
    return (
        Measured(
            rate=f"{summary.rate:.2f}/s",
            p50=_duration(summary.p50),
            p99=_duration(summary.p99),
            retries=_number(summary.retries),
            queue=queue,
            charts=timelines(list(numbers.points), now),
            note=note,
        ),
        "",
    )


def rows(presences: Presences, traffic: Traffic, measurements: Measurements) -> list[Row]:
    now = time.monotonic()
    running: dict[str, int] = {}
    for sighting in presences.sightings():
        running[sighting.presence.service] = running.get(sighting.presence.service, 0) + 1
    names = sorted({*running, *traffic.produced_per_second.keys(), *traffic.dead_letters,
                    *(n for n, m in measurements.services.items() if m.points)})  # fmt: skip
    found = []
    for name in names:
        produced = traffic.produced_per_second.values(name)
        dead = traffic.dead_per_second.values(name)
        figures, missing = measured(measurements.services.get(name), now)
        found.append(
            Row(
                service=name,
                replicas=running.get(name, 0),
                produced=sum(n for (service, _), n in traffic.produced.items() if service == name),
                produced_last_minute=sum(produced[-60:]),
                dead=traffic.dead_letters[name],
                dead_last_minute=sum(dead[-60:]),
                chart=sparkline(produced, dead),
                measured=figures,
                missing=missing,
            )
        )
    return found


def render(presences: Presences, traffic: Traffic, measurements: Measurements) -> str:
    return fragment(
        "numbers_table.html", rows=rows(presences, traffic, measurements), minutes=HISTORY // 60
    )


@router.get("/numbers", response_class=HTMLResponse)
async def numbers_page(request: Request, session: SessionDep) -> HTMLResponse:
    state = request.app.state
    table = render(state.presences, state.traffic, state.measurements)
    return page(request, "numbers.html", table=table)


@router.get("/numbers/stream")
async def numbers_stream(request: Request, session: SessionDep) -> EventSourceResponse:
    state = request.app.state

    async def current() -> str:
        return render(state.presences, state.traffic, state.measurements)

    return live(request, current)
