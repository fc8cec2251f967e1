"""``bus trace``: the traces the services exported to their logs with ``BUS_TRACING=console``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from bus.tools.cli._common import console, err_console, fail
from bus.tools.traceview import (
    MIN_PREFIX,
    STDIN,
    TraceLookupError,
    find_trace,
    group_traces,
    read_files,
    render_list,
    render_trace,
    summary_json,
    trace_json,
)

LOG_PATTERN = "svc-*.log"
"""The services' logs in the stack's log folder (infra/services.sh writes them)."""


def trace_command(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[FILE]...",
            help=f"Logs to read ('-': standard input). Default: every {LOG_PATTERN} in "
            "$CHORUS_STACK_DIR/logs, or .stack/logs",
            show_default=False,
        ),
    ] = None,
    trace_id: Annotated[
        str | None,
        typer.Option(
            "--id",
            metavar="ID",
            help=f"Draw this trace: its id, or at least {MIN_PREFIX} of its first hex digits, "
            "or an event id or correlation id in it",
        ),
    ] = None,
    last: Annotated[int, typer.Option("--last", min=1, help="How many traces to list")] = 10,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON: the listed traces, or the trace with its spans")
    ] = False,
) -> None:
    """List the latest traces, or draw one as a tree of its spans.

    Reads the spans that services started with BUS_TRACING=console write to
    their logs, one JSON object per line among the log lines. The list shows
    the newest traces first: root span, start, duration, spans, services and
    failed spans (ERROR status or dead-lettered). With --id, each span of the
    trace under the one it came from, with its service, its start after the
    root's and its duration; a span whose parent is in no file read is drawn
    as a root of its own, marked (parent not found).
    """
    paths = list(files) if files else _stack_logs()
    try:
        read = read_files(paths)
    except OSError as exc:
        fail(f"cannot read {exc.filename or 'a file'}: {exc.strerror or exc}")
    if read.unreadable:
        err_console.print(
            f"[yellow]warning:[/] skipped {read.unreadable} span line(s) that could not be "
            "read (truncated?)",
            highlight=False,
        )
    traces = group_traces(read.spans)
    if not traces:
        where = "standard input" if paths == [Path(STDIN)] else f"{len(paths)} file(s)"
        fail(f"no spans in {where}: were the services started with BUS_TRACING=console?")
    if trace_id is None:
        shown = traces[:last]
        if as_json:
            print(json.dumps([summary_json(trace) for trace in shown], indent=2))
        else:
            console.print(render_list(shown, total=len(traces)))
        return
    try:
        trace = find_trace(traces, trace_id)
    except TraceLookupError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(trace_json(trace), indent=2))
    else:
        console.print(render_trace(trace, console.width))


def _stack_logs() -> list[Path]:
    """The services' logs of the local stack; fails if there are none."""
    logs = Path(os.environ.get("CHORUS_STACK_DIR") or ".stack") / "logs"
    found = sorted(logs.glob(LOG_PATTERN))
    if not found:
        fail(
            f"no service logs ({LOG_PATTERN}) in {logs}: start the stack with "
            "BUS_TRACING=console make up, or name the FILEs to read"
        )
    return found
