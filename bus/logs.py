"""Structured logs: one JSON object per line when not on a terminal.

Each record carries the service and replica of the process and, inside a
handler or a job, the id, correlation id and causation id of the event being
handled, so that one upload's lines can be found across every service's log,
and the trace and span ids of the current OpenTelemetry span, so that a line
leads to its trace.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from rich.logging import RichHandler

from bus.context import current_envelope
from bus.tracing import current_ids

_identity: dict[str, str] = {}


def set_identity(*, service: str, instance: str) -> None:
    """Name the service and replica this process runs, for every record from now on."""
    _identity.update(service=service, instance=instance)


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "service", "instance", "event_id",
    "correlation_id", "causation_id", "trace_id", "span_id", "exception"}``, keys
    without a value left out."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_identity,
        }
        envelope = current_envelope()
        if envelope is not None:
            line.update(
                event_id=envelope.id,
                event_type=envelope.type,
                correlation_id=envelope.correlationid,
                causation_id=envelope.causationid,
            )
        ids = current_ids()
        if ids is not None:
            line["trace_id"], line["span_id"] = ids
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps({k: v for k, v in line.items() if v is not None}, default=str)


def configure_logging(level: int, *, json_lines: bool | None = None) -> None:
    """Log at ``level`` to stderr: JSON lines, or rich text on a terminal
    (``json_lines=None`` decides by whether stderr is a terminal)."""
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    handler: logging.Handler
    if json_lines:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
    else:
        handler = RichHandler(show_path=False)
    logging.basicConfig(level=level, handlers=[handler], force=True)
