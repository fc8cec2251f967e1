"""A dead letter is always storable, and every delivery ends, whatever the message carried.

The letters here are refused the way MongoDB refuses them: by encoding them to BSON
(``bson.encode`` is what the driver does before anything is sent). The real store is
in ``tests/integration/test_badinput_deadletters.py``.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import bson
import pytest
from bson.errors import InvalidDocument
from pymongo.errors import DocumentTooLarge

from bus.deadletters import DeadLetter, MemoryDeadLetters
from bus.deadletters.storable import PAYLOAD_LIMIT, as_text, minimal
from bus.envelope import Envelope
from bus.handler import Handler
from bus.retry import RetryPolicy
from bus.runtime import Delivery, Outcome, Pipeline
from contracts import DocumentUploaded

TOPIC = DocumentUploaded.contract.topic
HUGE = 10**100
MONGO_LIMIT = 16 * 1024 * 1024


def bson_size(letter: DeadLetter) -> int:
    """What the driver would send, or the error MongoDB's encoding raises."""
    return len(bson.encode(letter.model_dump()))


def huge_payload() -> bytes:
    """A DocumentUploaded whose size fits JSON and the contract, but no BSON integer."""
    data = {
        "document_id": str(uuid.uuid4()), "owner": "mallory", "filename": "big.txt",
        "size_bytes": HUGE, "content_type": "text/plain", "storage_url": "file:///tmp/x",
    }  # fmt: skip
    envelope = {
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": "/attacker",
        "type": DocumentUploaded.contract.type, "time": "2026-01-01T00:00:00Z", "data": data,
    }  # fmt: skip
    return json.dumps(envelope).encode()


def letter_of(payload: bytes, **fields: Any) -> DeadLetter:
    envelope = Envelope.from_bytes(payload)
    return DeadLetter(
        service="catalog", topic=TOPIC, kind="failed",
        reason="OverflowError: MongoDB can only handle up to 8-byte ints",
        event_id=envelope.id, event_type=envelope.type,
        envelope=envelope.model_dump(mode="json", exclude_none=True),
        payload=payload.decode(), attempts=5, **fields,
    )  # fmt: skip


# -- the storable forms -----------------------------------------------------------


def test_a_letter_with_an_integer_bson_cannot_hold_keeps_its_envelope_as_json_text() -> None:
    letter = letter_of(huge_payload())
    with pytest.raises(OverflowError) as refused:
        bson_size(letter)

    stored = as_text(letter, refused.value)

    assert bson_size(stored) < MONGO_LIMIT
    assert stored.envelope is None
    assert stored.original_envelope() == letter.envelope
    assert stored.original_envelope()["data"]["size_bytes"] == HUGE  # type: ignore[index]
    assert stored.payload == letter.payload, "the raw payload is kept as it came"
    assert stored.id == letter.id
    assert stored.problem is not None
    assert "OverflowError" in stored.problem
    assert not stored.truncated


def test_texts_that_are_not_utf8_are_escaped() -> None:
    letter = DeadLetter(
        service="catalog", topic=TOPIC, kind="failed", reason="bad name \ud800",
        event_id="\udcff", error_message="\ud800", envelope={"data": {"filename": "\ud800"}},
    )  # fmt: skip
    with pytest.raises(UnicodeEncodeError) as refused:
        bson_size(letter)

    stored = as_text(letter, refused.value)

    bson_size(stored)
    assert stored.reason == "bad name \\ud800"
    assert stored.event_id == "\\udcff"
    assert stored.original_envelope() == {"data": {"filename": "\ud800"}}


def test_a_payload_too_large_for_a_document_is_cut_and_the_letter_says_so() -> None:
    letter = DeadLetter(
        service="catalog", topic=TOPIC, kind="poison", reason="not valid JSON",
        payload="x" * (MONGO_LIMIT + 1),
    )  # fmt: skip
    refused = DocumentTooLarge("BSON document too large")  # what the driver raises

    for stored in (as_text(letter, refused), minimal(letter, refused)):
        assert bson_size(stored) < MONGO_LIMIT
        assert stored.truncated, "a cut payload can't be replayed as it is"
        assert stored.payload == "x" * PAYLOAD_LIMIT
        assert stored.problem is not None
        assert "cut" in stored.problem


def test_the_minimal_letter_keeps_the_reason_and_the_raw_payload() -> None:
    payload = huge_payload()
    letter = letter_of(payload, traceback="Traceback ...", job={"name": "x", "n": HUGE})

    stored = minimal(letter, OverflowError("MongoDB can only handle up to 8-byte ints"))

    bson_size(stored)
    assert (stored.id, stored.service, stored.topic, stored.kind, stored.attempts) == (
        letter.id, "catalog", TOPIC, "failed", 5,
    )  # fmt: skip
    assert stored.reason == letter.reason
    assert stored.payload == payload.decode()
    assert stored.envelope is None
    assert stored.job is None
    assert stored.problem is not None
    assert "minimal" in stored.problem


# -- the pipeline: every delivery ends --------------------------------------------


class BsonDeadLetters(MemoryDeadLetters):
    """Letters in memory, refused as MongoDB refuses them; ``refuse_all`` refuses even
    the forms that would fit, as a store that rejects writes for its own reasons."""

    def __init__(self, *, refuse_all: bool = False) -> None:
        super().__init__()
        self.refuse_all = refuse_all
        self.unreachable = 0

    async def add(self, letter: DeadLetter) -> None:
        if self.unreachable:
            self.unreachable -= 1
            raise ConnectionError("mongo is restarting")
        if self.refuse_all:
            raise InvalidDocument("refused")
        if bson_size(letter) > MONGO_LIMIT:
            raise DocumentTooLarge("BSON document too large")
        await super().add(letter)


def pipeline_with(sink: MemoryDeadLetters) -> Pipeline:
    return Pipeline(
        service="catalog", owner="catalog-1",
        retry=lambda: RetryPolicy(attempts=5, initial_delay=0.0, max_delay=0.0),
        dead_letters=sink,
    )  # fmt: skip


def storing_handler() -> tuple[Handler, list[DocumentUploaded]]:
    """A handler that stores the event the way a service does: BSON first."""
    seen: list[DocumentUploaded] = []

    async def on_uploaded(event: DocumentUploaded) -> None:
        seen.append(event)
        bson.encode(event.model_dump(mode="json"))

    return Handler.build(on_uploaded, DocumentUploaded), seen


async def test_an_event_bson_cannot_hold_is_dead_lettered_at_once_in_a_form_that_fits() -> None:
    sink = BsonDeadLetters()
    handler, seen = storing_handler()
    payload = huge_payload()

    outcome = await pipeline_with(sink).deliver(Delivery(handler, TOPIC, payload))

    assert outcome is Outcome.DEAD_LETTERED
    assert len(seen) == 1  # what MongoDB cannot encode is not worth another try
    [letter] = sink.letters.values()
    assert letter.attempts == 1
    assert letter.reason.startswith("OverflowError")
    assert letter.payload == payload.decode()
    assert letter.problem is not None


async def test_a_store_that_refuses_every_letter_still_lets_the_delivery_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = BsonDeadLetters(refuse_all=True)
    handler, _ = storing_handler()

    with caplog.at_level(logging.CRITICAL, logger="bus.pipeline"):
        outcome = await pipeline_with(sink).deliver(Delivery(handler, TOPIC, huge_payload()))

    assert outcome is Outcome.DEAD_LETTERED
    assert sink.letters == {}
    [record] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "given up on" in record.getMessage()
    assert str(HUGE) in record.getMessage(), "the payload is at least in the log"


async def test_an_unreachable_store_is_still_waited_for_with_the_whole_letter() -> None:
    sink = BsonDeadLetters()
    sink.unreachable = 2
    payload = huge_payload().replace(str(HUGE).encode(), b"12")

    async def failing(event: DocumentUploaded) -> None:
        raise RuntimeError("down")

    handler = Handler.build(failing, DocumentUploaded)
    outcome = await pipeline_with(sink).deliver(Delivery(handler, TOPIC, payload))

    assert outcome is Outcome.DEAD_LETTERED
    [letter] = sink.letters.values()
    assert letter.problem is None, "waiting for the store is not a reason to drop anything"
    assert letter.envelope is not None
    assert sink.unreachable == 0


def test_nul_characters_are_written_out_and_the_letter_says_so() -> None:
    # PostgreSQL (FerretDB's backend) refuses NUL in any string.
    letter = DeadLetter(
        service="catalog", topic=TOPIC, kind="poison", reason="not JSON: a\x00b",
        payload="{\x00}",
    )  # fmt: skip
    refused = ValueError("unsupported Unicode escape sequence")

    for stored in (as_text(letter, refused), minimal(letter, refused)):
        assert stored.payload == "{\\u0000}"
        assert "\x00" not in stored.model_dump_json()
        assert stored.problem is not None
        assert "NUL" in stored.problem
    assert as_text(letter, refused).truncated, "a payload written out can't be replayed as is"
