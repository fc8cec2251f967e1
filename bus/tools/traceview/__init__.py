"""Traces read back from the spans ``BUS_TRACING=console`` writes into the logs (``bus trace``)."""

from bus.tools.traceview.lookup import MIN_PREFIX, TraceLookupError, find_trace
from bus.tools.traceview.model import Span, SpanNode, Trace, group_traces
from bus.tools.traceview.reader import STDIN, SpanLines, parse_span, read_files
from bus.tools.traceview.render import (
    render_list,
    render_summary,
    render_trace,
    render_tree,
    summary_json,
    trace_json,
)

__all__ = [
    "MIN_PREFIX",
    "STDIN",
    "Span",
    "SpanLines",
    "SpanNode",
    "Trace",
    "TraceLookupError",
    "find_trace",
    "group_traces",
    "parse_span",
    "read_files",
    "render_list",
    "render_summary",
    "render_trace",
    "render_tree",
    "summary_json",
    "trace_json",
]
