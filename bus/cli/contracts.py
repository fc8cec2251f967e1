"""``bus contracts``: the event types, their topics and schemas."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from bus.cli._common import console, fail
from contracts import UnknownEventError, all_events, lookup


def contracts_command(
    schema: Annotated[
        str | None, typer.Option(metavar="TYPE", help="Print this event's JSON Schema")
    ] = None,
) -> None:
    """List every event type, its topic and version, or print one's JSON Schema."""
    if schema is not None:
        try:
            event_class = lookup(schema)
        except UnknownEventError as exc:
            fail(exc.args[0])
        print(json.dumps(event_class.model_json_schema(), indent=2))
        return
    table = Table()
    for column in ("type", "topic", "version"):
        table.add_column(column, no_wrap=True)
    table.add_column("description", min_width=16)
    for event in all_events():
        info = event.contract
        table.add_row(info.type, info.topic, str(info.version), (event.__doc__ or "").strip())
    console.print(table)
