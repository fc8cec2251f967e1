"""Traces for a terminal (a rich table of traces, a tree of one) and for scripts (JSON)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from bus.tools.traceview.model import DEAD_LETTERED, SpanNode, Trace

SHORT_ID = 12
"""Hex digits of a trace id shown in the list (more if two traces share them)."""

_GUIDE = 4  # columns a rich Tree indents each level by


# -- the list ----------------------------------------------------------------------


def render_list(traces: Sequence[Trace], *, total: int | None = None) -> Table:
    """One row per trace, in the order given; ``total``: how many traces were read."""
    ids = short_ids(traces)
    shown = f"{len(traces)} of {total}" if total is not None else str(len(traces))
    table = Table(
        caption=f"{shown} trace(s), newest first; 'bus trace --id TRACE' draws one",
        caption_justify="left",
    )
    table.add_column("trace", no_wrap=True)
    table.add_column("root span", overflow="ellipsis", min_width=16)
    table.add_column("started", no_wrap=True)
    for column in ("took", "spans"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("services", min_width=20)
    table.add_column("errors", justify="right", no_wrap=True)
    for trace in traces:
        root = Text(trace.root.name, style="bold")
        if not trace.complete:
            root.append(" (parent not found)", style="yellow")
        table.add_row(
            Text(ids[trace.trace_id], style="cyan"),
            root,
            f"{trace.start.astimezone():%m-%d %H:%M:%S}",
            human_ms(trace.duration_ms),
            str(len(trace.spans)),
            ", ".join(trace.services),
            Text(str(trace.errors), style="bold red") if trace.errors else Text("0", style="dim"),
        )
    return table


def short_ids(traces: Sequence[Trace]) -> dict[str, str]:
    """Each trace id cut to the fewest digits (at least :data:`SHORT_ID`) that keep them apart."""
    ids = [trace.trace_id for trace in traces]
    for digits in range(SHORT_ID, 33):
        if len({i[:digits] for i in ids}) == len(set(ids)):
            return {i: i[:digits] for i in ids}
    return {i: i for i in ids}  # pragma: no cover - 32 digits always tell them apart


# -- one trace ---------------------------------------------------------------------


def render_trace(trace: Trace, width: int | None = None) -> Group:
    """The trace as a tree, then its summary line; ``width``: see :func:`render_tree`."""
    return Group(render_tree(trace, width), render_summary(trace))


def render_tree(trace: Trace, width: int | None = None) -> Tree:
    """Every span under its parent, children by start time, with aligned columns:
    name, service, start after the root's, duration, and what went unusually.

    Names are cut (``…``) where the columns would not fit in ``width``.
    """
    nodes = list(_walk(trace.roots, depth=1))
    rows = [_Row(trace, node, depth) for node, depth in nodes]
    header = f"trace {trace.trace_id}"
    service = max([len("service")] + [len(row.service) for row in rows])
    start = max([len("start") - 3] + [len(row.start) for row in rows])
    took = max([len("took") - 3] + [len(row.took) for row in rows])
    names = max([len(header)] + [_GUIDE * row.depth + len(row.name) for row in rows])
    if width is not None:
        names = max(min(names, width - (service + start + took + 9)), _GUIDE * 2)
    title = Text(_cut(header, names).ljust(names), style="bold")
    title.append(
        f" {'service'.ljust(service)} {'start'.rjust(start + 3)} {'took'.rjust(took + 3)}",
        style="dim",
    )
    tree = Tree(title, guide_style="dim")
    branches: dict[int, Tree] = {0: tree}
    for row in rows:
        room = None if width is None else width - _GUIDE * row.depth
        label = row.label(names - _GUIDE * row.depth, service, start, took, room)
        branches[row.depth] = branches[row.depth - 1].add(label)
    return tree


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else f"{text[: max(width - 1, 1)]}…"


def _walk(nodes: Sequence[SpanNode], depth: int) -> Iterator[tuple[SpanNode, int]]:
    for node in nodes:
        yield node, depth
        yield from _walk(node.children, depth + 1)


class _Row:
    """One span of the tree, its columns as text."""

    def __init__(self, trace: Trace, node: SpanNode, depth: int) -> None:
        span = node.span
        self.node, self.depth = node, depth
        self.name, self.service = span.name, span.service
        offset = trace.offset_ms(span)
        self.start = f"{'-' if offset < 0 else '+'}{abs(offset):.0f}"
        self.took = f"{span.duration_ms:.1f}"
        style = "red" if span.failed else "dim" if span.outcome == "duplicate" else ""
        self.style = f"bold {style}".strip() if span is trace.root else style

    def label(self, name: int, service: int, start: int, took: int, room: int | None) -> Text:
        """The row in columns this wide; markers that would pass ``room`` go on a line below."""
        label = Text(
            _cut(self.name, name).ljust(name), style=self.style, no_wrap=False, overflow="fold"
        )
        label.append(f" {self.service.ljust(service)}", style="cyan")
        label.append(f" {self.start[0]}{self.start[1:].rjust(start - 1)} ms")
        label.append(f" {self.took.rjust(took)} ms")
        markers = Text()
        for marker, style in _markers(self.node):
            markers.append("  ")
            markers.append(marker, style=style)
        if room is not None and markers and len(label) + len(markers) > room:
            label.append("\n")  # below, and wrapped: what passes the width would be lost
        return label.append_text(markers)


def _markers(node: SpanNode) -> Iterator[tuple[str, str]]:
    span = node.span
    if node.orphan:
        yield "(parent not found)", "yellow"
    if span.outcome == "duplicate":
        yield "duplicate", "yellow"
    elif span.outcome == DEAD_LETTERED:
        yield DEAD_LETTERED, "bold red"
    if span.delivered_via in {"catch-up", "replay"}:
        yield f"via {span.delivered_via}", "magenta"
    if span.retries:
        yield f"{span.retries} retr{'y' if span.retries == 1 else 'ies'}", "yellow"
    if span.error:
        description = span.status.description
        yield f"ERROR: {description}" if description else "ERROR", "bold red"


def render_summary(trace: Trace) -> Text:
    """Spans, services, how long it took and which span ended last, in one line."""
    last = trace.last
    end = (last.end - trace.root.start_time).total_seconds() * 1000
    text = Text(f"{len(trace.spans)} span(s) across {len(trace.services)} service(s) ")
    text.append(f"({', '.join(trace.services)})")
    text.append(f"; {human_ms(trace.duration_ms)} from first start to last end")
    text.append(f"; the last to end: {last.name} ({last.service}) at +{end:.0f} ms")
    if trace.errors:
        text.append(f"; {trace.errors} failed", style="bold red")
    orphans = sum(1 for node in trace.roots if node.orphan)
    if orphans:
        text.append(f"; {orphans} span(s) whose parent was not read", style="yellow")
    return text


def human_ms(value: float) -> str:
    """``17.7 ms``, ``3.74 s``, ``2 min 5 s``."""
    if value < 1000:
        return f"{value:.1f} ms"
    if value < 60_000:
        return f"{value / 1000:.2f} s"
    return f"{int(value // 60_000)} min {round(value % 60_000 / 1000)} s"


# -- JSON --------------------------------------------------------------------------


def summary_json(trace: Trace) -> dict[str, Any]:
    """What the list shows of a trace."""
    return {
        "trace_id": trace.trace_id,
        "root": trace.root.name,
        "root_found": trace.complete,
        "start": trace.start.isoformat(),
        "end": trace.end.isoformat(),
        "duration_ms": round(trace.duration_ms, 3),
        "span_count": len(trace.spans),
        "services": list(trace.services),
        "errors": trace.errors,
    }


def trace_json(trace: Trace) -> dict[str, Any]:
    """The summary, the span that ended last, and every span in tree order with its depth."""
    last = trace.last
    return summary_json(trace) | {
        "last": {
            "span_id": last.span_id,
            "name": last.name,
            "service": last.service,
            "end_offset_ms": round((last.end - trace.root.start_time).total_seconds() * 1000, 3),
        },
        "spans": [_span_json(trace, node, depth) for node, depth in _walk(trace.roots, depth=0)],
    }


def _span_json(trace: Trace, node: SpanNode, depth: int) -> dict[str, Any]:
    span = node.span
    return {
        "span_id": span.span_id,
        "parent_id": span.parent_id,
        "depth": depth,
        "orphan": node.orphan,
        "name": span.name,
        "kind": span.kind,
        "service": span.service,
        "instance": span.instance,
        "start": span.start_time.isoformat(),
        "offset_ms": round(trace.offset_ms(span), 3),
        "duration_ms": round(span.duration_ms, 3),
        "status": span.status.status_code,
        "status_description": span.status.description,
        "outcome": span.outcome,
        "delivered_via": span.delivered_via,
        "retries": span.retries,
        "event_id": span.event_id,
        "correlation_id": span.correlation_id,
        "attributes": span.attributes,
    }
