"""A dead letter: an event a service gave up on, and why."""

from __future__ import annotations

import json
import traceback
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import uuid4

from beanie import Document
from pydantic import BaseModel, Field, field_validator
from pymongo import DESCENDING, IndexModel

Kind = Literal["poison", "failed", "job"]

_TRACEBACK_LINES = 12


class UserProperty(BaseModel):
    """One MQTT 5 user property (a document, not a pair: the MongoDB-compatible server
    stores no arrays inside arrays)."""

    name: str
    value: str


class DeadLetter(BaseModel):
    """What a person needs to understand a failure and replay it.

    Attributes:
        kind: ``poison`` (can never be handled as it is: not JSON, not a
            CloudEvent, wrong type, fails its contract), ``failed`` (the
            handler raised on every attempt) or ``job`` (a long job failed).
        envelope: The original CloudEvent, when the payload was one.
        payload: The raw payload as text (in binary mode: the event's data).
        content_type: The MQTT 5 content type the message came with, if any.
        properties: Its MQTT 5 user properties, in order: in binary mode the event's
            attributes. A replay sends them again with the payload.
        job: For ``kind="job"``: the job's name, key and arguments.
        problem: What the letter could not keep as it came, and why (the store refused
            it as it was: see :mod:`bus.deadletters.storable`); None: nothing was lost.
        envelope_json: The envelope as JSON text, when it could not be stored as a
            document (a number too large for BSON, say); ``envelope`` is then None.
        job_json: The same for ``job``.
        truncated: A text (the payload, say) was cut to fit the store: the letter can
            no longer be replayed as it is.
    """

    id: str = Field(default_factory=lambda: uuid4().hex)
    service: str
    topic: str
    kind: Kind
    reason: str
    event_id: str | None = None
    event_type: str | None = None
    envelope: dict[str, Any] | None = None
    payload: str | None = None
    content_type: str | None = None
    properties: list[UserProperty] = Field(default_factory=list)
    attempts: int = 1
    error_type: str = ""
    error_message: str = ""
    traceback: str | None = None
    job: dict[str, Any] | None = None
    dead_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    replays: int = 0
    problem: str | None = None
    envelope_json: str | None = None
    job_json: str | None = None
    truncated: bool = False

    @field_validator("properties", mode="before")
    @classmethod
    def _from_pairs(cls, value: Any) -> Any:
        # (name, value) pairs, as the broker gives them, are taken as they are.
        if isinstance(value, list | tuple):
            return [
                {"name": p[0], "value": p[1]} if isinstance(p, list | tuple) else p for p in value
            ]
        return value

    def mqtt_properties(self) -> tuple[tuple[str, str], ...]:
        """The user properties as (name, value) pairs, in the order they came."""
        return tuple((p.name, p.value) for p in self.properties)

    def original_envelope(self) -> dict[str, Any] | None:
        """The envelope, whether it was stored as a document or as JSON text."""
        return self.envelope if self.envelope is not None else _parsed(self.envelope_json)

    def original_job(self) -> dict[str, Any] | None:
        """The job's name, key and arguments, however they were stored."""
        return self.job if self.job is not None else _parsed(self.job_json)

    @staticmethod
    def describe(exc: BaseException) -> dict[str, Any]:
        """The error fields for an exception: type, message and a short traceback."""
        lines = traceback.format_exception(exc)
        return {
            "error_type": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "error_message": str(exc),
            "traceback": "".join(lines[-_TRACEBACK_LINES:]),
        }


def _parsed(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:  # cut to fit the store: ``truncated`` says so
        return None
    return value if isinstance(value, dict) else None


class StoredDeadLetter(Document, DeadLetter):
    """A dead letter as kept in MongoDB."""

    id: str = Field(default_factory=lambda: uuid4().hex)  # type: ignore[assignment]

    class Settings:
        name = "deadletters"
        indexes = [  # noqa: RUF012 - Beanie reads this class attribute
            IndexModel([("dead_at", DESCENDING)]),
            IndexModel([("service", 1), ("dead_at", DESCENDING)]),
            IndexModel([("event_id", 1)]),
        ]
