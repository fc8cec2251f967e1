"""The CloudEvents 1.0 envelope every event travels in (structured JSON mode)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bus.constants import CLOUDEVENTS_CONTENT_TYPE, SPECVERSION
from bus.errors import PoisonMessageError
from contracts import Event

_REQUIRED = frozenset({"specversion", "id", "source", "type"})
"""Attributes a received CloudEvent must carry (the model's defaults are for sending)."""

_JSON_TYPES = frozenset({"application/json", "text/json"})


class EnvelopeError(PoisonMessageError):
    """The bytes are not a CloudEvents 1.0 JSON document."""


class Envelope(BaseModel):
    """A CloudEvents 1.0 event with Chorus's extension attributes.

    ``correlationid`` is shared by every event of one causal chain (the first
    event's id); ``causationid`` is the id of the event whose handler
    published this one, absent for the first. ``traceparent`` and
    ``tracestate`` are the CloudEvents distributed-tracing extension: the W3C
    trace context of the span that published the event (see :mod:`bus.tracing`).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: str = SPECVERSION
    id: str = Field(default_factory=lambda: str(uuid4()), min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: str = "application/json"
    subject: str | None = None
    correlationid: str | None = None
    causationid: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    data: Any = None

    @field_validator("traceparent", "tracestate", mode="before")
    @classmethod
    def _ignore_malformed_trace(cls, value: Any) -> Any:
        # A broken trace context must not make the event poison: it starts a new trace.
        return value if isinstance(value, str) else None

    @classmethod
    def wrap(
        cls,
        event: Event,
        *,
        source: str,
        cause: Envelope | None = None,
        id: str | None = None,
        trace: Mapping[str, str] | None = None,
    ) -> Envelope:
        """Put an event into a new envelope, continuing ``cause``'s chain if given.

        ``trace`` is the W3C trace context (``traceparent``, ``tracestate``) to carry.
        """
        event_id = id or str(uuid4())
        trace = trace or {}
        return cls(
            id=event_id,
            source=source,
            type=event.contract.type,
            correlationid=(cause.correlationid or cause.id) if cause else event_id,
            causationid=cause.id if cause else None,
            traceparent=trace.get("traceparent"),
            tracestate=trace.get("tracestate"),
            data=event.model_dump(mode="json"),
        )

    @classmethod
    def from_bytes(cls, payload: bytes) -> Envelope:
        """Parse and check a structured-mode CloudEvent.

        Raises:
            EnvelopeError: with a reason a person can read.
        """
        try:
            envelope = cls.model_validate_json(payload)
        except ValidationError as exc:
            raise EnvelopeError(_describe(exc)) from None
        missing = _REQUIRED - envelope.model_fields_set
        if missing:
            msg = f"not a CloudEvent: missing {', '.join(sorted(missing))}"
            raise EnvelopeError(msg)
        if envelope.specversion != SPECVERSION:
            msg = f"unsupported CloudEvents specversion {envelope.specversion!r}"
            raise EnvelopeError(msg)
        if envelope.datacontenttype.split(";")[0].strip() not in _JSON_TYPES:
            msg = f"unsupported datacontenttype {envelope.datacontenttype!r}: events carry JSON"
            raise EnvelopeError(msg)
        return envelope

    def to_bytes(self) -> bytes:
        """The JSON document published on the wire."""
        return self.model_dump_json(exclude_none=True).encode()

    def extensions(self) -> dict[str, Any]:
        """Extension attributes other than Chorus's own and the tracing extension."""
        return dict(self.model_extra or {})


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return f"not valid JSON: {first['msg']}"
    where = ".".join(str(p) for p in first["loc"]) or "document"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"not a CloudEvent: {where}: {first['msg']}{more}"


__all__ = ["CLOUDEVENTS_CONTENT_TYPE", "Envelope", "EnvelopeError"]
