"""Compensations (``@service.compensate``) on the in-memory bus: what they get, when they
run, what they publish, and what happens when they fail."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from bus import Envelope, GaveUp, PoisonMessageError, RetryPolicy, Service
from bus.testing import in_memory
from contracts import DocumentFailed, DocumentUploaded
from tests.helpers import uploaded

TOPIC = DocumentUploaded.contract.topic
FAST = RetryPolicy(attempts=3, initial_delay=0.0, max_delay=0.0)


def failed_for(event: DocumentUploaded, reason: str) -> DocumentFailed:
    return DocumentFailed(
        document_id=event.document_id, owner=event.owner, filename=event.filename,
        storage_url=event.storage_url, stage="test", reason=reason[:2000],
    )  # fmt: skip


class Indexer:
    """A service whose handler fails as told, and a compensation that records its calls
    and publishes ``DocumentFailed``."""

    def __init__(self, *, handler_fails: BaseException | None, compensation_fails: int = 0):
        self.service = service = Service("indexer", retry=FAST, produces=[DocumentFailed])
        self.handled: list[DocumentUploaded] = []
        self.calls: list[tuple[DocumentUploaded | None, GaveUp]] = []
        self.compensation_fails = compensation_fails

        @service.on(DocumentUploaded)
        async def index(event: DocumentUploaded) -> None:
            self.handled.append(event)
            if handler_fails is not None:
                raise handler_fails

        @service.compensate(DocumentUploaded)
        async def give_back(event: DocumentUploaded | None, gave_up: GaveUp) -> None:
            self.calls.append((event, gave_up))
            if len(self.calls) <= self.compensation_fails:
                raise ConnectionError("the store is down")
            if event is not None:
                await service.publish(failed_for(event, gave_up.reason))

        self.give_back = give_back


async def test_a_handler_that_fails_for_good_is_compensated_with_the_event_and_why() -> None:
    indexer = Indexer(handler_fails=ConnectionError("storage is down"))
    event = uploaded(1)
    async with in_memory(indexer.service) as bus:
        sent = await bus.publish(event)
    [letter] = bus.dead_letters.letters.values()
    assert letter.kind == "failed"
    [(given, gave_up)] = indexer.calls
    assert given == event
    assert gave_up.kind == "failed"
    assert gave_up.attempts == FAST.attempts
    assert gave_up.letter_id == letter.id
    assert gave_up.reason == "ConnectionError: storage is down"
    assert gave_up.envelope is not None
    assert gave_up.envelope.id == sent.id
    [failed] = bus.of_type(DocumentFailed)
    assert failed.causationid == sent.id  # it continues the event's chain
    assert failed.correlationid == sent.correlationid


async def test_a_handled_event_is_not_compensated() -> None:
    indexer = Indexer(handler_fails=None)
    async with in_memory(indexer.service) as bus:
        await bus.publish(uploaded(1))
    assert indexer.handled
    assert indexer.calls == []
    assert bus.of_type(DocumentFailed) == []


async def test_a_compensation_that_runs_again_publishes_the_same_ids() -> None:
    # The same event dead-lettered twice (redelivered after a crash before its PUBACK,
    # or a replay that failed again): the second DocumentFailed is the first one again.
    indexer = Indexer(handler_fails=PoisonMessageError("cannot index this"))
    async with in_memory(indexer.service) as bus:
        sent = await bus.publish(uploaded(1))
        await bus.publish_envelope(sent)
    assert len(indexer.calls) == 2
    assert all(gave_up.kind == "poison" for _, gave_up in indexer.calls)
    first, second = bus.of_type(DocumentFailed)
    assert first.id == second.id


async def test_data_that_fails_its_contract_gets_none_and_the_envelope_as_it_came() -> None:
    indexer = Indexer(handler_fails=None)
    data = uploaded(1).model_dump(mode="json") | {"priority": "high"}  # a newer producer's
    envelope = Envelope(
        id="e-newer", source="/gateway/1", type=DocumentUploaded.contract.type, data=data
    )
    async with in_memory(indexer.service) as bus:
        await bus.publish_envelope(envelope)
    assert indexer.handled == []
    [(event, gave_up)] = indexer.calls
    assert event is None
    assert gave_up.kind == "poison"
    assert "priority" in gave_up.reason
    assert gave_up.envelope is not None
    assert gave_up.envelope.id == "e-newer"
    assert gave_up.envelope.data == data


@pytest.mark.parametrize(
    "payload", [b"\xff not json", b"[1, 2]", json.dumps({"id": "x", "data": {}}).encode()]
)
async def test_bytes_that_are_no_cloudevent_are_dead_lettered_but_never_compensated(
    payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    indexer = Indexer(handler_fails=None)
    async with in_memory(indexer.service) as bus:
        await bus.publish_raw(payload, TOPIC)
    assert len(bus.dead_letters.letters) == 1
    assert indexer.calls == []
    assert "not compensating dead letter" in caplog.text


async def test_an_event_from_a_source_that_does_not_produce_it_is_never_compensated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    indexer = Indexer(handler_fails=None)
    async with in_memory(indexer.service) as bus:
        indexer.service.replica.producers.by_type = {
            DocumentUploaded.contract.type: frozenset({"gateway"})
        }
        await bus.publish(uploaded(1))  # from /test/1: forged, as far as the map says
    [letter] = bus.dead_letters.letters.values()
    assert letter.kind == "poison"
    assert indexer.calls == []
    assert "not a replica of a declared producer" in caplog.text


async def test_a_compensation_that_fails_is_retried() -> None:
    indexer = Indexer(handler_fails=ValueError("bad"), compensation_fails=2)
    async with in_memory(indexer.service) as bus:
        await bus.publish(uploaded(1))
    assert len(indexer.calls) == 3  # failed twice, then done
    assert len(bus.of_type(DocumentFailed)) == 1


async def test_a_compensation_that_keeps_failing_is_logged_and_the_replica_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    indexer = Indexer(handler_fails=ValueError("bad"), compensation_fails=100)
    async with in_memory(indexer.service) as bus:
        await bus.publish(uploaded(1))
        await bus.publish(uploaded(2))  # the next event is still handled and compensated
    assert len(indexer.calls) == 2 * FAST.attempts
    assert len(bus.dead_letters.letters) == 2  # the letters stay, for a replay
    failures = [r for r in caplog.records if "failed for good" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.levelno == logging.ERROR for r in failures)


async def test_a_compensation_stays_callable_without_the_bus() -> None:
    indexer = Indexer(handler_fails=None)
    event = uploaded(1)
    gave_up = GaveUp(kind="failed", reason="r", letter_id="l")
    with pytest.raises(Exception, match="not started"):  # it publishes: needs a replica
        await indexer.give_back(event, gave_up)
    assert indexer.calls == [(event, gave_up)]


def test_declaring_compensations_checks_what_it_can() -> None:
    service = Service("indexer")

    async def one_parameter(event: Any) -> None: ...

    def not_async(event: Any, gave_up: GaveUp) -> None: ...

    with pytest.raises(TypeError, match="must take"):
        service.compensate(DocumentUploaded)(one_parameter)
    with pytest.raises(TypeError, match="async"):
        service.compensate(DocumentUploaded)(not_async)  # type: ignore[type-var]

    async def ok(event: Any, gave_up: GaveUp) -> None: ...

    service.compensate(DocumentUploaded)(ok)
    with pytest.raises(ValueError, match="already compensates"):
        service.compensate(DocumentUploaded)(ok)


async def test_a_compensation_of_an_event_the_service_does_not_handle_is_refused() -> None:
    service = Service("indexer")

    @service.compensate(DocumentUploaded)
    async def give_back(event: Any, gave_up: GaveUp) -> None: ...

    with pytest.raises(ValueError, match="does not handle"):
        async with in_memory(service):
            pass
