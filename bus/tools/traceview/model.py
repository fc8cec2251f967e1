"""Spans as OpenTelemetry's console exporter writes them, and the traces they form."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bus.tracing import SERVICE_ATTRIBUTE

OUTCOME = "chorus.outcome"
DELIVERED_VIA = "chorus.delivered_via"
EVENT_ID = "cloudevents.event_id"
CORRELATION_ID = "chorus.correlation_id"
DEAD_LETTERED = "dead-lettered"
UNKNOWN_SERVICE = "unknown_service"


def hex_id(value: str, digits: int) -> str:
    """``0xAB…`` or ``ab…`` as lowercase hex without ``0x``; ValueError if it is not an id."""
    text = value.strip().lower().removeprefix("0x")
    if len(text) != digits or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"not a {digits}-digit hex id: {value!r}")
    return text


class SpanContext(BaseModel):
    model_config = ConfigDict(frozen=True)

    trace_id: str
    span_id: str

    @field_validator("trace_id")
    @classmethod
    def _trace_id(cls, value: str) -> str:
        return hex_id(value, 32)

    @field_validator("span_id")
    @classmethod
    def _span_id(cls, value: str) -> str:
        return hex_id(value, 16)


class SpanStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    status_code: str = "UNSET"
    description: str | None = None


class SpanEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    timestamp: datetime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class SpanResource(BaseModel):
    model_config = ConfigDict(frozen=True)

    attributes: dict[str, Any] = Field(default_factory=dict)


class Span(BaseModel):
    """One span, as ``ReadableSpan.to_json()`` writes it (ids without ``0x``)."""

    model_config = ConfigDict(frozen=True)

    name: str
    context: SpanContext
    kind: str = ""
    parent_id: str | None = None
    start_time: datetime
    end_time: datetime | None = None
    status: SpanStatus = SpanStatus()
    attributes: dict[str, Any] = Field(default_factory=dict)
    events: list[SpanEvent] = Field(default_factory=list)
    resource: SpanResource = SpanResource()

    @field_validator("parent_id")
    @classmethod
    def _parent_id(cls, value: str | None) -> str | None:
        return None if value is None else hex_id(value, 16)

    @property
    def trace_id(self) -> str:
        return self.context.trace_id

    @property
    def span_id(self) -> str:
        return self.context.span_id

    @property
    def end(self) -> datetime:
        return self.end_time or self.start_time

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start_time).total_seconds() * 1000

    @property
    def service(self) -> str:
        """The resource's ``service.name``, else the span's ``chorus.service``, else ``?``."""
        name = self.resource.attributes.get("service.name")
        # The SDK's default when a process names no service: not a name.
        if not name or str(name).startswith(UNKNOWN_SERVICE):
            name = self.attributes.get(SERVICE_ATTRIBUTE)
        return str(name) if name else "?"

    @property
    def instance(self) -> str | None:
        value = self.resource.attributes.get("service.instance.id")
        return str(value) if value else None

    @property
    def outcome(self) -> str | None:
        """``handled``, ``duplicate`` or ``dead-lettered`` on a delivery's span."""
        return self._text(OUTCOME)

    @property
    def delivered_via(self) -> str | None:
        """``broker``, ``catch-up`` or ``replay`` on a delivery's span."""
        return self._text(DELIVERED_VIA)

    @property
    def event_id(self) -> str | None:
        return self._text(EVENT_ID)

    @property
    def correlation_id(self) -> str | None:
        return self._text(CORRELATION_ID)

    @property
    def error(self) -> bool:
        """An ERROR status."""
        return self.status.status_code.upper().removeprefix("STATUSCODE.") == "ERROR"

    @property
    def failed(self) -> bool:
        """An ERROR status, or an event dead-lettered."""
        return self.error or self.outcome == DEAD_LETTERED

    @property
    def retries(self) -> int:
        return sum(1 for event in self.events if event.name == "retry")

    def _text(self, key: str) -> str | None:
        value = self.attributes.get(key)
        return str(value) if value is not None else None


@dataclass(frozen=True)
class SpanNode:
    """A span and the spans under it, by start time; ``orphan``: its parent was not read."""

    span: Span
    children: tuple[SpanNode, ...]
    orphan: bool = False


@dataclass(frozen=True)
class Trace:
    """The spans read of one trace, by start time."""

    trace_id: str
    spans: tuple[Span, ...]

    @cached_property
    def roots(self) -> tuple[SpanNode, ...]:
        """The spans without a parent, and the orphans (whose parent was not read), as trees."""
        known = {span.span_id for span in self.spans}
        children: dict[str, list[Span]] = defaultdict(list)
        tops: list[tuple[Span, bool]] = []
        for span in self.spans:
            if span.parent_id is None:
                tops.append((span, False))
            elif span.parent_id not in known or span.parent_id == span.span_id:
                tops.append((span, True))
            else:
                children[span.parent_id].append(span)
        seen: set[str] = set()

        def grow(span: Span, orphan: bool) -> SpanNode:
            seen.add(span.span_id)
            kids = [
                grow(child, False) for child in children[span.span_id] if child.span_id not in seen
            ]
            return SpanNode(span, tuple(kids), orphan)

        nodes = [grow(span, orphan) for span, orphan in tops]
        # Parents that point at each other (no exporter writes that): shown, not lost.
        while unseen := [span for span in self.spans if span.span_id not in seen]:
            nodes.append(grow(unseen[0], True))
        return tuple(sorted(nodes, key=lambda node: _order(node.span)))

    @property
    def root(self) -> Span:
        """The first span without a parent; the first span if every one has a parent."""
        return next((span for span in self.spans if span.parent_id is None), self.spans[0])

    @property
    def complete(self) -> bool:
        """It has a span without a parent (its root was read)."""
        return any(span.parent_id is None for span in self.spans)

    @property
    def start(self) -> datetime:
        return self.spans[0].start_time

    @cached_property
    def last(self) -> Span:
        """The span that ends last: the end of the critical path."""
        return max(self.spans, key=lambda span: span.end)

    @property
    def end(self) -> datetime:
        return self.last.end

    @property
    def duration_ms(self) -> float:
        """From the first start to the last end."""
        return (self.end - self.start).total_seconds() * 1000

    @property
    def services(self) -> tuple[str, ...]:
        """Every service with a span, in the order of their first span."""
        return tuple(dict.fromkeys(span.service for span in self.spans))

    @property
    def errors(self) -> int:
        """Spans with an ERROR status or an event dead-lettered."""
        return sum(1 for span in self.spans if span.failed)

    def offset_ms(self, span: Span) -> float:
        """How long after the root's start ``span`` started."""
        return (span.start_time - self.root.start_time).total_seconds() * 1000


def _order(span: Span) -> tuple[datetime, str]:
    return span.start_time, span.span_id


def group_traces(spans: Iterable[Span]) -> list[Trace]:
    """The traces these spans form, newest first; a span read twice counts once."""
    by_trace: dict[str, dict[str, Span]] = defaultdict(dict)
    for span in spans:
        by_trace[span.trace_id].setdefault(span.span_id, span)
    traces = [
        Trace(trace_id, tuple(sorted(found.values(), key=_order)))
        for trace_id, found in by_trace.items()
    ]
    return sorted(traces, key=lambda t: (t.start, t.trace_id), reverse=True)
