"""The CloudEvents 1.0 envelope every event travels in, and its two MQTT content modes.

The CloudEvents MQTT binding
(https://github.com/cloudevents/spec/blob/main/cloudevents/bindings/mqtt-protocol-binding.md)
carries an event in one of two modes, told apart by the MQTT 5 content type:

- *structured*: the payload is the whole event as a JSON document, content type
  ``application/cloudevents+json``. MQTT 3.1.1 has no content type and is structured only.
- *binary*: the payload is the event's ``data``, the content type is its
  ``datacontenttype``, and every other attribute travels as an MQTT 5 user property
  named after the attribute, its value the attribute's canonical string.

:meth:`Envelope.from_message` reads either; :meth:`Envelope.to_message` writes either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
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

_CLOUDEVENTS_MEDIA_PREFIX = "application/cloudevents"
"""A content type with this prefix names a structured-mode event format."""

_ATTRIBUTE_NAME = re.compile(r"[a-z0-9]+")
"""What a CloudEvents attribute name may be; other user properties are not attributes."""

_NOT_PROPERTIES = frozenset({"data", "data_base64"})
"""Names that never travel as user properties: the data is the binary-mode payload."""

Properties = tuple[tuple[str, str], ...]
"""MQTT 5 user properties: (name, value) pairs, in order, a name possibly repeated."""


class EnvelopeError(PoisonMessageError):
    """The message is not a CloudEvents 1.0 event in either content mode."""


@dataclass(frozen=True, slots=True)
class WireMessage:
    """One MQTT PUBLISH as the CloudEvents binding reads it.

    Attributes:
        payload: The message body.
        content_type: The MQTT 5 content type; None when absent (always under MQTT 3.1.1).
        properties: The MQTT 5 user properties.
    """

    payload: bytes
    content_type: str | None = None
    properties: Properties = ()

    @property
    def binary(self) -> bool:
        """Whether it is in binary mode, as the binding decides.

        A content type that starts with ``application/cloudevents`` means structured mode,
        any other content type binary mode. Without a content type (an MQTT 3.1.1 sender,
        or an MQTT 5 one that set none) it is binary only if a ``specversion`` user
        property says so: structured is what MQTT 3.1.1 implies.
        """
        media = _media_type(self.content_type)
        if media is None:
            return any(name == "specversion" for name, _ in self.properties)
        return not media.startswith(_CLOUDEVENTS_MEDIA_PREFIX)


class Envelope(BaseModel):
    """A CloudEvents 1.0 event with Chorus's extension attributes.

    ``correlationid`` is shared by every event of one causal chain (the first
    event's id); ``causationid`` is the id of the event whose handler
    published this one, absent for the first. An event that arrives without a
    ``correlationid`` (from a producer outside the bus) starts its own chain: its
    own ``id`` is its correlation id (:attr:`correlation`). ``traceparent`` and
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

    @property
    def correlation(self) -> str:
        """The id of this event's causal chain: ``correlationid``, or without one its ``id``."""
        return self.correlationid or self.id

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
            correlationid=cause.correlation if cause else event_id,
            causationid=cause.id if cause else None,
            traceparent=trace.get("traceparent"),
            tracestate=trace.get("tracestate"),
            data=event.model_dump(mode="json"),
        )

    @classmethod
    def from_message(cls, message: WireMessage) -> Envelope:
        """Read a CloudEvent in whichever content mode it came (see :attr:`WireMessage.binary`).

        Both modes get the same checks.

        Raises:
            EnvelopeError: with a reason a person can read.
        """
        if message.binary:
            return cls._from_binary(message)
        media = _media_type(message.content_type)
        if media is not None and media != CLOUDEVENTS_CONTENT_TYPE:
            msg = (
                f"unsupported CloudEvents event format {message.content_type!r}: "
                f"send {CLOUDEVENTS_CONTENT_TYPE} (structured mode) or binary mode"
            )
            raise EnvelopeError(msg)
        return cls.from_bytes(message.payload)

    @classmethod
    def from_bytes(cls, payload: bytes) -> Envelope:
        """Parse and check a structured-mode CloudEvent.

        Raises:
            EnvelopeError: with a reason a person can read.
        """
        try:
            envelope = cls.model_validate_json(payload)
        except ValidationError as exc:
            raise EnvelopeError(_describe(exc, "not a CloudEvent")) from None
        return envelope._checked()

    @classmethod
    def _from_binary(cls, message: WireMessage) -> Envelope:
        attributes: dict[str, Any] = {}
        for name, value in message.properties:
            if not _ATTRIBUTE_NAME.fullmatch(name):
                continue  # MQTT metadata of the sender's own, not a CloudEvents attribute
            if name in _NOT_PROPERTIES:
                msg = f"binary mode: {name!r} is a user property; the data travels as the payload"
                raise EnvelopeError(msg)
            if name in attributes:
                msg = f"binary mode: the user property {name!r} is given twice"
                raise EnvelopeError(msg)
            attributes[name] = value
        if not _REQUIRED & attributes.keys():
            msg = (
                f"content type {message.content_type!r} means binary mode, but no CloudEvents "
                "attribute came as an MQTT user property (a structured-mode event needs "
                f"content type {CLOUDEVENTS_CONTENT_TYPE})"
            )
            raise EnvelopeError(msg)
        content_type = message.content_type
        if content_type is not None:
            declared = attributes.get("datacontenttype", content_type)
            if declared != content_type:
                msg = (
                    f"binary mode: user property datacontenttype {declared!r} differs from "
                    f"the MQTT content type {content_type!r}"
                )
                raise EnvelopeError(msg)
            attributes["datacontenttype"] = content_type
        _check_data_type(attributes.get("datacontenttype", "application/json"))
        if message.payload:
            try:
                attributes["data"] = json.loads(message.payload)
            except ValueError as exc:
                msg = f"binary mode: the payload (the data) is not valid JSON: {exc}"
                raise EnvelopeError(msg) from None
        try:
            envelope = cls.model_validate(attributes)
        except ValidationError as exc:
            raise EnvelopeError(_describe(exc, "not a CloudEvent (binary mode)")) from None
        return envelope._checked()

    def _checked(self) -> Envelope:
        missing = _REQUIRED - self.model_fields_set
        if missing:
            msg = f"not a CloudEvent: missing {', '.join(sorted(missing))}"
            raise EnvelopeError(msg)
        if self.specversion != SPECVERSION:
            msg = f"unsupported CloudEvents specversion {self.specversion!r}"
            raise EnvelopeError(msg)
        _check_data_type(self.datacontenttype)
        return self

    def to_bytes(self) -> bytes:
        """The structured-mode JSON document."""
        return self.model_dump_json(exclude_none=True).encode()

    def to_message(self, *, binary: bool = False) -> WireMessage:
        """The MQTT message that carries this event, in structured or binary mode.

        In binary mode the payload is ``data`` as JSON (empty without data), the content
        type is ``datacontenttype`` and every other attribute is a user property holding
        its canonical string (``time`` in RFC 3339, booleans ``true``/``false``).
        """
        if not binary:
            return WireMessage(self.to_bytes(), CLOUDEVENTS_CONTENT_TYPE)
        attributes = self.model_dump(mode="json", exclude_none=True)
        data = attributes.pop("data", None)
        content_type = attributes.pop("datacontenttype")
        payload = b"" if data is None else json.dumps(data, separators=(",", ":")).encode()
        properties = tuple((name, _canonical(value)) for name, value in attributes.items())
        return WireMessage(payload, content_type, properties)

    def extensions(self) -> dict[str, Any]:
        """Extension attributes other than Chorus's own and the tracing extension."""
        return dict(self.model_extra or {})


def _media_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    return content_type.split(";")[0].strip().lower() or None


def _check_data_type(datacontenttype: str) -> None:
    if _media_type(datacontenttype) not in _JSON_TYPES:
        msg = f"unsupported datacontenttype {datacontenttype!r}: events carry JSON"
        raise EnvelopeError(msg)


def _canonical(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _describe(exc: ValidationError, what: str) -> str:
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return f"not valid JSON: {first['msg']}"
    where = ".".join(str(p) for p in first["loc"]) or "document"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{what}: {where}: {first['msg']}{more}"


__all__ = ["CLOUDEVENTS_CONTENT_TYPE", "Envelope", "EnvelopeError", "Properties", "WireMessage"]
