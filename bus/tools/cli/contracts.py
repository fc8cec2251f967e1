"""``bus contracts``: the event types, their schemas, and whether a change breaks them."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bus.tools.cli._common import console, fail
from bus.tools.compat import (
    BASELINE,
    BaselineError,
    Change,
    check,
    diff_snapshots,
    load,
    snapshot,
    write,
)
from contracts import UnknownEventError, all_events, lookup

USAGE_ERROR = 2
"""The exit code of wrong arguments (as click's own), apart from 1: breaking changes."""


class Action(StrEnum):
    """What ``bus contracts`` does."""

    LIST = "list"
    SNAPSHOT = "snapshot"
    CHECK = "check"


def contracts_command(
    action: Annotated[
        Action,
        typer.Argument(
            help="list the event types; 'snapshot' records every version's schema in the "
            "baseline; 'check' fails (exit 1) on a breaking change against it",
        ),
    ] = Action.LIST,
    schema: Annotated[
        str | None, typer.Option(metavar="TYPE", help="Print this event's JSON Schema")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            metavar="PATH",
            help="The baseline for snapshot and check [default: contracts/schemas.lock.json]",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="check: print the changes as JSON")
    ] = False,
) -> None:
    """List every event type, its topic and version, or print one's JSON Schema.

    'snapshot' records every contract version's schema, topic and type in the baseline.

    'check' compares the code with it and exits 1 on a breaking change to a recorded version.

    A breaking change goes in a new version (a new class, event_version = N+1, the old one kept).
    """
    if action is not Action.LIST and schema is not None:
        fail("--schema goes with the listing, not with 'snapshot' or 'check'", USAGE_ERROR)
    if action is not Action.CHECK and as_json:
        fail("--json goes with 'check'", USAGE_ERROR)
    if action is Action.LIST and file is not None:
        fail("--file goes with 'snapshot' or 'check'", USAGE_ERROR)
    if action is Action.SNAPSHOT:
        _snapshot(file or BASELINE)
    elif action is Action.CHECK:
        _check(file or BASELINE, as_json=as_json)
    elif schema is not None:
        _print_schema(schema)
    else:
        _list()


def _list() -> None:
    table = Table()
    for column in ("type", "topic", "version"):
        table.add_column(column, no_wrap=True)
    table.add_column("description", min_width=16)
    for event in all_events():
        info = event.contract
        table.add_row(info.type, info.topic, str(info.version), (event.__doc__ or "").strip())
    console.print(table)


def _print_schema(event_type: str) -> None:
    try:
        event_class = lookup(event_type)
    except UnknownEventError as exc:
        fail(exc.args[0])
    print(json.dumps(event_class.model_json_schema(), indent=2))


def _snapshot(path: Path) -> None:
    current = snapshot()
    accepted: list[Change] = []
    if path.exists():
        with contextlib.suppress(ValueError):  # an unreadable baseline is simply replaced
            accepted = diff_snapshots(load(path), current)
    try:
        write(current, path)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}", USAGE_ERROR)
    for change in accepted:
        console.print(_line(change), highlight=False)
    breaking = sum(c.breaking for c in accepted)
    note = f"; {breaking} breaking change(s) accepted" if breaking else ""
    console.print(
        f"wrote {len(current['events'])} event versions to {_shown(path)}{note}", highlight=False
    )


def _check(path: Path, *, as_json: bool) -> None:
    try:
        changes = check(path)
    except BaselineError as exc:
        fail(f"{exc} (create it with 'bus contracts snapshot')", USAGE_ERROR)
    except ValueError as exc:  # a baseline that is JSON but not a well-formed schema
        fail(f"the baseline {_shown(path)} cannot be compared: {exc}", USAGE_ERROR)
    breaking = [c for c in changes if c.breaking]
    if as_json:
        report = {
            "baseline": str(path),
            "compatible": not breaking,
            "breaking": len(breaking),
            "changes": [asdict(c) for c in changes],
        }
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        for change in changes:
            console.print(_line(change), highlight=False)
    if breaking:
        fail(
            f"{len(breaking)} breaking change(s) against {_shown(path)}: publish them as a new "
            "version (event_version = N+1 in a new class, the old class kept), or accept them "
            "with 'bus contracts snapshot' and commit the baseline"
        )
    if not as_json:
        listed = f", {len(changes)} compatible change(s) listed" if changes else ""
        console.print(f"contracts compatible with {_shown(path)}{listed}", highlight=False)


def _line(change: Change) -> str:
    """One change on one line: label, event type, field, what changed."""
    label = "[bold red]BREAKING[/]" if change.breaking else "[cyan]info    [/]"
    where = f"{change.event_type} {change.path}" if change.path else change.event_type
    text = f"{label} {escape(where)}: {escape(change.message)}"
    if change.consumers_first:
        text += " [dim](old consumers reject it: upgrade consumers before producers)[/]"
    return text


def _shown(path: Path) -> str:
    """The path relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
