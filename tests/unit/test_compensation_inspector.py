"""The inspector's compensations on the in-memory bus: a reservation it gives up on and an
inspection job given up on both fail the document, under one event id per document."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bus import Envelope, GaveUp
from bus.testing import in_memory
from contracts import DocumentFailed, QuotaReserved
from services.inspector import create_service
from services.inspector.service import STAGE, InspectionRequest, failed_event_id
from services.storage import LocalStorage


def reserved(storage: LocalStorage) -> QuotaReserved:
    document_id = uuid.uuid4()
    return QuotaReserved(
        document_id=document_id, owner="alice", owner_email="alice@example.com",
        filename="english.txt", size_bytes=100, content_type="text/plain",
        storage_url=storage.url_for(document_id), documents_used=1, bytes_used=100,
    )  # fmt: skip


def newer(event: QuotaReserved, **data: object) -> Envelope:
    """``event`` as a newer accounts would send it: with a field this inspector lacks."""
    payload = event.model_dump(mode="json") | {"priority": "high"} | data
    return Envelope(source="/accounts/1", type=event.contract.type, data=payload)


async def test_a_reservation_it_cannot_take_fails_the_document(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    service = create_service("inspector-unit", storage=storage)
    event = reserved(storage)
    async with in_memory(service) as bus:
        await bus.publish_envelope(newer(event))
        await bus.publish_envelope(newer(event))  # again, as after a crash: the same event
    [letter, _] = bus.dead_letters.letters.values()
    assert letter.kind == "poison"
    first, second = bus.of_type(DocumentFailed)
    assert first.id == second.id == failed_event_id("inspector-unit", event.document_id)
    failed = DocumentFailed.model_validate(first.data)
    assert (failed.document_id, failed.owner, failed.storage_url) == (
        event.document_id, event.owner, event.storage_url,
    )  # fmt: skip
    assert failed.stage == STAGE
    assert "priority" in failed.reason


async def test_a_reservation_that_names_no_document_is_left_be(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = LocalStorage(tmp_path)
    service = create_service("inspector-unit", storage=storage)
    async with in_memory(service) as bus:
        await bus.publish_envelope(newer(reserved(storage), document_id="not a uuid"))
    assert len(bus.dead_letters.letters) == 1
    assert bus.of_type(DocumentFailed) == []
    assert "names no document" in caplog.text


async def test_an_inspection_given_up_on_fails_the_document_under_the_same_id(
    tmp_path: Path,
) -> None:
    storage = LocalStorage(tmp_path)
    service = create_service("inspector-unit", storage=storage)
    event = reserved(storage)
    [job] = service.jobs
    assert job.on_give_up is not None
    kwargs = InspectionRequest.from_event(event).model_dump(mode="json")
    gave_up = GaveUp(
        kind="job", reason="job inspect_document failed: TimeoutError", letter_id="job:x",
        attempts=3, job=job.name, kwargs=kwargs,
    )  # fmt: skip
    async with in_memory(service) as bus:
        await job.on_give_up(gave_up)
    [published] = bus.of_type(DocumentFailed)
    assert published.id == failed_event_id("inspector-unit", event.document_id)
    assert "TimeoutError" in published.data["reason"]
