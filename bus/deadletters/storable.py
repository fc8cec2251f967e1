"""Making a dead letter storable whatever it carries.

A letter keeps the message as it came, so whatever made the message fail may also make
the store refuse the letter: an integer past 8 bytes (BSON has none), a lone surrogate
in a string (not UTF-8), a payload near the document size limit. A refused letter is
stored again in a smaller form, and says what it lost (``problem``):

1. :func:`as_text`: the envelope and the job as JSON text, every text valid UTF-8 and
   cut to a size any store takes;
2. :func:`minimal`: only what identifies and explains it, and the payload as text.
"""

from __future__ import annotations

import json
from typing import Any

from bus.deadletters.models import DeadLetter, UserProperty

PAYLOAD_LIMIT = 4 * 1024 * 1024
"""Bytes of payload, and of each JSON text, kept (MongoDB's documents stop at 16 MiB)."""

TEXT_LIMIT = 16 * 1024
"""Bytes kept of a reason, an error message or an error type."""

TRACEBACK_LIMIT = 64 * 1024
"""Bytes kept of a traceback."""

_SHORT = 1024


def clip(text: str, limit: int) -> tuple[str, bool]:
    """``text`` as valid UTF-8 (lone surrogates written as ``\\udxxx``) without NUL
    (written as ``\\u0000``: PostgreSQL, under FerretDB, refuses it in any string), at most
    ``limit`` bytes; and whether it was cut or a NUL written out."""
    escaped = "\x00" in text
    if escaped:
        text = text.replace("\x00", "\\u0000")
    raw = text.encode("utf-8", errors="backslashreplace")
    if len(raw) <= limit:
        return raw.decode("utf-8"), escaped
    return raw[:limit].decode("utf-8", errors="ignore"), True


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, default=repr)


def _properties(letter: DeadLetter, limit: int) -> tuple[list[UserProperty], bool]:
    """The letter's user properties with every name and value as :func:`clip` makes them;
    and whether any was cut."""
    kept: list[UserProperty] = []
    cut = False
    for pair in letter.mqtt_properties():
        (name, name_cut), (value, value_cut) = (clip(text, limit) for text in pair)
        kept.append(UserProperty(name=name, value=value))
        cut = cut or name_cut or value_cut
    return kept, cut


def _why(error: BaseException) -> str:
    return clip(f"{type(error).__name__}: {error}", _SHORT)[0]


def as_text(letter: DeadLetter, error: BaseException) -> DeadLetter:
    """``letter`` with nothing a document store could refuse, after ``error`` refused it.

    The envelope and the job become JSON text (``envelope_json``, ``job_json``); every
    text is made valid UTF-8 and cut to a size any store takes.
    """
    cut: list[str] = []

    def text(name: str, value: str | None, limit: int = TEXT_LIMIT) -> str | None:
        if value is None:
            return None
        kept, was_cut = clip(value, limit)
        if was_cut:
            cut.append(name)
        return kept

    envelope, job = letter.envelope, letter.job
    update: dict[str, Any] = {
        "service": text("service", letter.service, _SHORT),
        "topic": text("topic", letter.topic, _SHORT),
        "reason": text("reason", letter.reason),
        "event_id": text("event_id", letter.event_id, _SHORT),
        "event_type": text("event_type", letter.event_type, _SHORT),
        "envelope": None,
        "envelope_json": text(
            "envelope_json",
            _json(envelope) if envelope is not None else letter.envelope_json,
            PAYLOAD_LIMIT,
        ),
        "job": None,
        "job_json": text(
            "job_json", _json(job) if job is not None else letter.job_json, PAYLOAD_LIMIT
        ),
        "payload": text("payload", letter.payload, PAYLOAD_LIMIT),
        "content_type": text("content_type", letter.content_type),
        "error_type": text("error_type", letter.error_type),
        "error_message": text("error_message", letter.error_message),
        "traceback": text("traceback", letter.traceback, TRACEBACK_LIMIT),
    }
    problem = (
        f"the store refused the letter as it was ({_why(error)}): "
        "envelope and job kept as JSON text"
    )
    update["properties"], properties_cut = _properties(letter, TEXT_LIMIT)
    if properties_cut:
        cut.append("properties")
    if cut:
        problem += f"; cut or NUL written out to fit: {', '.join(cut)}"
    update["problem"] = problem
    update["truncated"] = letter.truncated or bool(
        {"payload", "envelope_json", "job_json", "content_type", "properties"} & set(cut)
    )
    return letter.model_copy(update=update)


def minimal(letter: DeadLetter, error: BaseException) -> DeadLetter:
    """Only what identifies and explains ``letter``, and its payload as text, after
    ``error`` refused a fuller form: the last form a letter is stored in."""
    payload, payload_cut = clip(letter.payload or "", PAYLOAD_LIMIT)
    if letter.payload is None and letter.original_envelope() is not None:
        # No raw payload (a job's letter): the envelope is the closest thing to one.
        payload, payload_cut = clip(_json(letter.original_envelope()), PAYLOAD_LIMIT)
    properties, properties_cut = _properties(letter, TEXT_LIMIT)
    content_type, type_cut = clip(letter.content_type or "", TEXT_LIMIT)
    problem = f"only a minimal letter could be stored ({_why(error)})"
    if payload_cut:
        problem += "; payload cut or NUL written out to fit"
    if properties_cut or type_cut:
        problem += "; MQTT properties cut to fit"
    return DeadLetter(
        id=letter.id,
        service=clip(letter.service, _SHORT)[0],
        topic=clip(letter.topic, _SHORT)[0],
        kind=letter.kind,
        reason=clip(letter.reason, TEXT_LIMIT)[0],
        payload=payload or None,
        content_type=content_type or None,
        properties=properties,
        attempts=letter.attempts,
        dead_at=letter.dead_at,
        replays=letter.replays,
        problem=problem,
        truncated=letter.truncated or payload_cut or properties_cut or type_cut,
    )
