"""``bus journal``: the newest events the journal service stored."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from bus.journal import JournalEntry, latest
from bus.mongo import connect_mongo, release_mongo
from bus.settings import BusSettings
from bus.tools.cli._common import console, run


def journal_command(
    event_type: Annotated[
        str | None, typer.Option("--type", help="Only events of this CloudEvents type")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many, newest first")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Envelopes as JSON lines")] = False,
) -> None:
    """List the newest events recorded by the journal."""
    entries = run(_fetch(event_type, limit))
    if as_json:
        for entry in entries:
            print(json.dumps(entry.envelope))
        return
    table = Table()
    for column in ("recorded", "type", "id", "source", "correlation", "causation"):
        table.add_column(column, no_wrap=True)
    for entry in entries:
        table.add_row(
            f"{entry.recorded_at:%Y-%m-%d %H:%M:%S}",
            entry.type,
            entry.id,
            entry.source,
            _short(entry.correlationid),
            _short(entry.causationid),
        )
    console.print(table)
    if not entries:
        console.print("[dim]no events recorded yet[/]")


async def _fetch(event_type: str | None, limit: int) -> list[JournalEntry]:
    url = BusSettings().mongo_url
    await connect_mongo(url, [JournalEntry])
    try:
        return await latest(event_type=event_type, limit=limit)
    finally:
        await release_mongo(url)


def _short(event_id: str | None) -> str:
    return (event_id or "-")[:8]
