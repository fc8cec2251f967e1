"""Reading spans back from logs where the console exporter wrote them, one per line.

Service logs mix span lines with JSON log lines and plain text; a process killed
mid-write leaves a truncated line. Only lines holding a span are kept: a line
that looks like one (a ``"context"`` key) but does not parse is counted, not
fatal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from bus.tools.traceview.model import Span

STDIN = "-"
"""The file name that means standard input."""

_decoder = json.JSONDecoder()


@dataclass
class SpanLines:
    """The spans read, and how many lines looked like spans but could not be read."""

    spans: list[Span] = field(default_factory=list)
    unreadable: int = 0

    def add(self, lines: Iterable[str]) -> None:
        """Read the spans among ``lines``."""
        for line in lines:
            if '"context"' not in line:  # cheap: most lines of a log are not spans
                continue
            try:
                span = parse_span(line)
            except ValueError:
                self.unreadable += 1
                continue
            if span is not None:
                self.spans.append(span)


def parse_span(line: str) -> Span | None:
    """The span on ``line``; None if it holds none.

    Text before the first ``{`` (a prefix added by a log collector) is ignored.

    Raises:
        ValueError: the line has a span's shape but is truncated or malformed.
    """
    start = line.find("{")
    if start < 0:
        return None
    try:
        document, _ = _decoder.raw_decode(line, start)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        return None
    context = document.get("context")
    if not isinstance(context, dict) or "trace_id" not in context:
        return None
    try:
        return Span.model_validate(document)
    except ValidationError as exc:
        raise ValueError(str(exc)) from exc


def read_files(paths: Sequence[Path | str], stdin: TextIO | None = None) -> SpanLines:
    """The spans in these files, in order; ``-`` reads ``stdin`` (standard input by default).

    Raises:
        OSError: a file cannot be read.
    """
    found = SpanLines()
    for path in paths:
        if str(path) == STDIN:
            found.add(stdin or sys.stdin)
            continue
        with Path(path).open(encoding="utf-8", errors="replace") as lines:
            found.add(lines)
    return found
