"""Compensations against the real stack: a handler's event and a job given up on for good
(out of tries, out of time) are compensated, and a compensation that runs again has no
second effect downstream (its event gets the same id, which consumers skip)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import Any

import pytest

from bus import BusSettings, Envelope, GaveUp, JobContext, Publisher, RetryPolicy, Service
from bus.deadletters import StoredDeadLetter
from contracts import DocumentFailed, DocumentUploaded, JobFailed
from tests.helpers import eventually, jobs_finished, settled, uploaded

pytestmark = pytest.mark.timeout(90)

FAST = RetryPolicy(attempts=2, initial_delay=0.01, max_delay=0.02)


def failed_for(document: dict[str, Any], reason: str) -> DocumentFailed:
    return DocumentFailed(
        document_id=document["document_id"], owner=document["owner"],
        filename=document["filename"], storage_url=document["storage_url"], stage="test",
        reason=reason[:2000],
    )  # fmt: skip


def watcher(name: str, settings: BusSettings) -> tuple[Service, list[Envelope]]:
    """Collects each DocumentFailed and JobFailed it handles (dedup skips repeats)."""
    service = Service(name, settings=settings)
    seen: list[Envelope] = []
    for event_type in (DocumentFailed, JobFailed):

        @service.on(event_type)
        async def collect(event: object, envelope: Envelope) -> None:
            seen.append(envelope)

    return service, seen


async def test_an_event_given_up_on_twice_is_compensated_twice_with_one_effect(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    indexer = Service(unique("indexer"), settings=settings, retry=FAST, produces=[DocumentFailed])
    given_up: list[tuple[DocumentUploaded | None, GaveUp]] = []

    @indexer.on(DocumentUploaded)
    async def index(event: DocumentUploaded) -> None:
        raise ConnectionError("the index is down")

    @indexer.compensate(DocumentUploaded)
    async def give_back(event: DocumentUploaded | None, gave_up: GaveUp) -> None:
        given_up.append((event, gave_up))
        assert event is not None
        await indexer.publish(failed_for(event.model_dump(), gave_up.reason))

    watching, seen = watcher(unique("watcher"), settings)
    for service in (watching, indexer):
        services.append(service)
        await service.start()

    event = uploaded(1)
    async with Publisher(settings=settings) as publisher:
        sent = await publisher.publish(event)
        await eventually(lambda: len(given_up) == 1, what="the compensation")
        # The same event again (as after a crash before its PUBACK): given up on again.
        await publisher.publish_envelope(sent)
    await eventually(lambda: len(given_up) == 2, what="the second compensation")
    await eventually(lambda: settled(watching.name) >= 2, what="both DocumentFailed delivered")

    assert [e for e, _ in given_up] == [event, event]
    assert {g.kind for _, g in given_up} == {"failed"}
    assert given_up[0][1].attempts == FAST.attempts
    for _, gave_up in given_up:
        assert await StoredDeadLetter.get(gave_up.letter_id) is not None
    [failed] = seen  # the second, same id, skipped by the watcher's dedup
    assert failed.type == "documents.failed.v1"
    assert failed.causationid == sent.id
    assert settled(watching.name, outcome="duplicate") == 1


@pytest.mark.parametrize("way", ["out of tries", "out of time"])
async def test_a_job_given_up_on_runs_its_compensation_once_after_job_failed(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str], way: str
) -> None:
    inspector = Service(unique("inspector"), settings=settings, produces=[DocumentFailed])
    given_up: list[GaveUp] = []

    async def inspection_given_up(gave_up: GaveUp) -> None:
        given_up.append(gave_up)
        assert gave_up.kwargs is not None
        await inspector.publish(failed_for(gave_up.kwargs["document"], gave_up.reason))

    @inspector.job(timeout=0.5, retry=FAST, on_give_up=inspection_given_up)
    async def inspect(job: JobContext, document: dict[str, Any]) -> None:
        if way == "out of time":
            await eventually(lambda: False, within=30, what="nothing")  # hangs
        raise OSError("cannot read it")

    @inspector.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded) -> None:
        key = str(event.document_id)
        await inspector.enqueue(inspect, key=key, document=event.model_dump(mode="json"))

    watching, seen = watcher(unique("watcher"), settings)
    for service in (watching, inspector):
        services.append(service)
        await service.start(work=service is inspector)

    event = uploaded(1)
    async with Publisher(settings=settings) as publisher:
        sent = await publisher.publish(event)
    await eventually(lambda: len(seen) >= 2, what="JobFailed and DocumentFailed")
    await eventually(lambda: jobs_finished(inspector.name), what="the job to end")

    [gave_up] = given_up
    assert gave_up.kind == "job"
    assert gave_up.job == "inspect"
    assert gave_up.attempts == FAST.attempts
    assert gave_up.envelope is not None
    assert gave_up.envelope.id == sent.id
    expected = "took longer than 0.5s" if way == "out of time" else "OSError: cannot read it"
    assert expected in gave_up.reason
    letter = await StoredDeadLetter.get(gave_up.letter_id)
    assert letter is not None
    assert letter.kind == "job"
    job_failed, document_failed = sorted(seen, key=lambda e: e.type != "jobs.failed.v1")
    assert job_failed.data["deadletter_id"] == gave_up.letter_id
    assert document_failed.type == "documents.failed.v1"
    assert document_failed.data["document_id"] == str(event.document_id)
    assert document_failed.correlationid == sent.correlationid


async def replay(settings: BusSettings, letter_id: str) -> None:
    """``bus dlq replay LETTER`` in a process of its own (it opens MongoDB, which Beanie
    binds to one event loop per process)."""
    env = dict(
        os.environ, BUS_MONGO_URL=settings.mongo_url, BUS_MQTT_URL=settings.mqtt_url,
        BUS_NAMESPACE=settings.namespace, BUS_REDIS_URL=settings.redis_url,
    )  # fmt: skip
    command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bus", "dlq", "replay", letter_id, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await command.communicate()
    assert command.returncode == 0, err.decode()


async def test_a_replay_that_fails_again_compensates_again_and_one_that_succeeds_does_not(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    indexer = Service(unique("indexer"), settings=settings, retry=FAST, produces=[DocumentFailed])
    broken = True
    handled: list[DocumentUploaded] = []
    given_up: list[GaveUp] = []

    @indexer.on(DocumentUploaded)
    async def index(event: DocumentUploaded) -> None:
        if broken:
            raise ConnectionError("the index is down")
        handled.append(event)

    @indexer.compensate(DocumentUploaded)
    async def give_back(event: DocumentUploaded | None, gave_up: GaveUp) -> None:
        given_up.append(gave_up)
        assert event is not None
        await indexer.publish(failed_for(event.model_dump(), gave_up.reason))

    watching, seen = watcher(unique("watcher"), settings)
    for service in (watching, indexer):
        services.append(service)
        await service.start()

    async with Publisher(settings=settings) as publisher:
        await publisher.publish(uploaded(1))
    await eventually(lambda: len(given_up) == 1, what="the compensation")
    letter_id = given_up[0].letter_id

    await replay(settings, letter_id)  # still broken: given up on again, compensated again
    await eventually(lambda: len(given_up) == 2, what="the second compensation")
    stored = await StoredDeadLetter.get(letter_id)  # the same letter, one more replay counted
    assert stored is not None
    assert stored.replays == 1

    broken = False
    await replay(settings, letter_id)  # handled now: the letter goes, nothing compensated

    async def letter_gone() -> bool:
        return await StoredDeadLetter.get(letter_id) is None

    await eventually(letter_gone, what="the replayed letter to go")
    assert len(handled) == 1
    assert len(given_up) == 2
    await eventually(lambda: settled(watching.name) >= 2, what="both DocumentFailed delivered")
    assert len(seen) == 1  # the second compensation's event had the first one's id
