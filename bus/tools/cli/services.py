"""``bus services``: the running instances, from their presence on the broker."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bus.discovery import STALE_AFTER, PresenceFeed, Roster, Sighting, presence_feed
from bus.settings import BusSettings
from bus.tools.cli._common import CONNECT_TIMEOUT, console, err_console, run

REDRAW = 1.0
"""Seconds between redraws in ``--watch``, so that ages and staleness stay current."""


def services_command(
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="A JSON array; with --watch, a new line each time an instance appears, "
            "leaves or changes (heartbeats alone do not count)",
        ),
    ] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Keep watching (Ctrl-C to stop)")] = False,
) -> None:
    """List the running service instances, read from the broker alone.

    Each replica keeps a retained presence message on
    chorus/presence/<service>/<instance>, refreshed by a heartbeat and
    deleted when it stops or dies. An instance whose last heartbeat is older
    than three of its intervals is marked STALE: it probably died without its
    will reaching the broker (a broker restart).
    """
    with contextlib.suppress(KeyboardInterrupt):
        run(_services(BusSettings(), as_json=as_json, watch=watch))


async def _services(settings: BusSettings, *, as_json: bool, watch: bool) -> None:
    async with presence_feed(settings, connect_timeout=CONNECT_TIMEOUT) as feed:
        roster = await feed.settle()
        _warn_unreadable(roster)
        if not watch:
            if as_json:
                print(_json(roster.sightings()), flush=True)
            else:
                _print_table(settings, roster.sightings())
            return
        if as_json:
            await _watch_json(feed)
        else:
            await _watch_table(settings, feed)


async def _watch_json(feed: PresenceFeed) -> None:
    last = ""
    while True:
        sightings = feed.roster.sightings()
        state = json.dumps(
            [
                (s.presence.model_dump(mode="json", exclude={"heartbeat_at"}), s.stale)
                for s in sightings
            ]
        )
        if state != last:
            print(_json(sightings), flush=True)
            last = state
        await feed.next(within=REDRAW)


async def _watch_table(settings: BusSettings, feed: PresenceFeed) -> None:
    with Live(console=console, auto_refresh=False) as live:
        while True:
            live.update(render_table(settings, feed.roster.sightings()), refresh=True)
            await feed.next(within=REDRAW)


def _print_table(settings: BusSettings, sightings: list[Sighting]) -> None:
    if not sightings:
        err_console.print(f"no running instances on {_where(settings)}", highlight=False)
        return
    console.print(render_table(settings, sightings))


def _json(sightings: list[Sighting]) -> str:
    return json.dumps([s.to_json() for s in sightings])


def _warn_unreadable(roster: Roster) -> None:
    for topic, reason in sorted(roster.unreadable.items()):
        err_console.print(f"[yellow]warning:[/] {topic}: {reason}", highlight=False)


def render_table(
    settings: BusSettings, sightings: list[Sighting], now: datetime | None = None
) -> Table:
    """One row per instance; stale ones in red, with ``STALE`` in the state column."""
    now = now or datetime.now(UTC)
    services = len({s.presence.service for s in sightings})
    table = Table(
        caption=f"{len(sightings)} instance(s) of {services} service(s) on {_where(settings)}; "
        f"stale: no heartbeat for {STALE_AFTER} intervals",
        caption_justify="left",
    )
    for column in ("service", "instance", "version", "host", "pid", "up since", "heartbeat"):
        table.add_column(column, no_wrap=True)
    for column in ("consumes", "produces"):
        table.add_column(column, justify="right")
    for column in ("jobs", "health", "state"):
        table.add_column(column)
    for sighting in sightings:
        p = sighting.presence
        problems = p.health.problems
        table.add_row(
            Text(p.service, style="bold"),
            p.instance,
            p.version,
            p.host,
            str(p.pid),
            _since(p.started_at, now),
            Text(f"{_duration(sighting.age)} ago", style="red" if sighting.stale else ""),
            "every event" if p.every_event else str(len(p.consumes)),
            str(len(p.produces)),
            ", ".join(p.jobs) + (" (worker)" if p.worker else "") if p.jobs else "-",
            Text(f"{', '.join(problems)} down", style="red") if problems else Text("ok", "green"),
            Text("STALE", style="bold red") if sighting.stale else Text("live", style="green"),
        )
    return table


def _where(settings: BusSettings) -> str:
    namespace = f" (namespace {settings.namespace})" if settings.namespace else ""
    return f"{settings.mqtt_url}{namespace}"


def _since(moment: datetime, now: datetime) -> str:
    """Local time, and how long ago: ``2025-06-01 14:03:12 (2h 10m)``."""
    return f"{moment.astimezone():%Y-%m-%d %H:%M:%S} ({_duration((now - moment).total_seconds())})"


def _duration(seconds: float) -> str:
    """``42s``, ``5m 3s``, ``2h 10m``, ``3d 4h``."""
    total = max(0, round(seconds))
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60)):
        if total >= size:
            return f"{total // size}{unit} {total % size // sub_size}{sub}"
    if total >= 60:
        return f"{total // 60}m {total % 60}s"
    return f"{total}s"
