"""Long work through arq under deduplicated job ids, against the real stack."""

import asyncio
import os
import sys
from collections import Counter
from collections.abc import Callable

from bus import BusSettings, Envelope, Publisher, RetryPolicy, Service
from bus.deadletters import StoredDeadLetter
from bus.jobs import JobContext
from bus.journal import JournalEntry
from contracts import DocumentUploaded, JobFailed, JobProgressed, JobSucceeded
from tests.helpers import eventually, jobs_finished, settled, uploaded

FAST = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.02)


def inspector(
    name: str, settings: BusSettings, instance: str, runs: Counter[str], broken: set[str]
) -> Service:
    service = Service(name, settings=settings.model_copy(update={"instance": instance}))

    @service.job(timeout=30, retry=FAST)
    async def inspect(job: JobContext, document_id: str, pages: int) -> dict[str, int]:
        for page in range(1, pages + 1):
            await job.progress(100 * page / pages, f"page {page} of {pages}")
        if document_id in broken:
            raise OSError(f"cannot read {document_id}")
        runs[document_id] += 1
        return {"pages": pages}

    @service.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded) -> None:
        document_id = str(event.document_id)
        await service.enqueue(inspect, key=document_id, document_id=document_id, pages=2)

    return service


async def all_done(name: str, watcher: str, *, deliveries: int) -> None:
    """Wait until each delivery to ``name`` ended, every job it queued finished, and the
    watcher had each job event published (journal first, so the journal holds them all):
    a second run would be queued while a delivery is handled, and have reported by then."""
    await eventually(lambda: settled(name) >= deliveries, what=f"{deliveries} deliveries to end")
    await eventually(lambda: jobs_finished(name), what="every queued job to finish")

    async def watched_all() -> bool:
        for event in (JobProgressed, JobSucceeded, JobFailed):
            kind = event.contract.type
            published = await JournalEntry.find(JournalEntry.type == kind).count()
            if settled(watcher, type=kind) < published:
                return False
        return True

    await eventually(watched_all, what="the watcher to have every job event")


def collector(name: str, settings: BusSettings) -> tuple[Service, list[Envelope]]:
    service = Service(name, settings=settings)
    seen: list[Envelope] = []
    for event_type in (JobProgressed, JobSucceeded, JobFailed):

        @service.on(event_type)
        async def collect(event: object, envelope: Envelope) -> None:
            seen.append(envelope)

    return service, seen


async def test_a_job_asked_for_many_times_by_two_replicas_runs_once_and_reports(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    runs: Counter[str] = Counter()
    name = unique("inspector")
    watcher, seen = collector(unique("watcher"), settings)
    for service in (
        inspector(name, settings, "a", runs, set()),
        inspector(name, settings, "b", runs, set()),
        watcher,
    ):
        services.append(service)
        await service.start(work=True)

    events = [uploaded(n) for n in range(10)]
    async with Publisher(settings=settings) as publisher:
        first = [await publisher.publish(event) for event in events]
        for event in events:  # the same documents again, as new events: only the job key dedups
            await publisher.publish(event)

    def succeeded() -> list[Envelope]:
        return [e for e in seen if e.type == "jobs.succeeded.v1"]

    await eventually(lambda: len(succeeded()) >= 10, what="10 jobs to succeed")
    await all_done(name, watcher.name, deliveries=20)
    print(f"asked 20 times for 10 jobs: ran {runs.total()}, succeeded {len(succeeded())}")
    assert runs.total() == 10
    assert max(runs.values()) == 1
    assert len(succeeded()) == 10

    by_id = {e.id: e for e in first}
    for done in succeeded():
        cause = by_id.get(done.causationid or "")
        assert cause is not None, "a job's events continue the chain of the event that asked"
        assert done.correlationid == cause.correlationid
        assert done.data["result"] == {"pages": 2}
    progress = [e for e in seen if e.type == "jobs.progressed.v1"]
    assert sorted(e.data["percent"] for e in progress) == [50.0] * 10 + [100.0] * 10


async def test_a_failed_job_is_dead_lettered_blocks_its_key_and_reruns_on_replay(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    runs: Counter[str] = Counter()
    event = uploaded(1)
    broken = {str(event.document_id)}
    service = inspector(unique("inspector"), settings, "a", runs, broken)
    watcher, seen = collector(unique("watcher"), settings)
    for each in (service, watcher):
        services.append(each)
        await each.start(work=True)

    async with Publisher(settings=settings) as publisher:
        await publisher.publish(event)
    await eventually(lambda: any(e.type == "jobs.failed.v1" for e in seen), what="the job to fail")
    [failed] = [e for e in seen if e.type == "jobs.failed.v1"]
    assert failed.data["attempts"] == 3
    letter = await StoredDeadLetter.get(failed.data["deadletter_id"])
    assert letter is not None
    assert letter.kind == "job"
    assert letter.job is not None
    assert letter.job["kwargs"] == {"document_id": str(event.document_id), "pages": 2}
    assert "cannot read" in letter.reason

    # The failure is kept: asking again for the same document does not run the job again.
    async with Publisher(settings=settings) as publisher:
        await publisher.publish(event)
    await all_done(service.name, watcher.name, deliveries=2)
    assert len([e for e in seen if e.type == "jobs.failed.v1"]) == 1

    broken.clear()
    env = dict(
        os.environ, BUS_MONGO_URL=settings.mongo_url, BUS_MQTT_URL=settings.mqtt_url,
        BUS_NAMESPACE=settings.namespace,
        BUS_REDIS_URL=settings.redis_url,
    )  # fmt: skip
    # A process of its own: the command opens MongoDB, and Beanie binds its client to one
    # event loop per process (this test's services use it in this one).
    replay = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bus", "dlq", "replay", letter.id, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await replay.communicate()
    assert replay.returncode == 0, err.decode()
    await eventually(lambda: runs.total() == 1, what="the replayed job to run")

    async def letter_removed() -> bool:
        return await StoredDeadLetter.get(letter.id) is None

    await eventually(letter_removed, what="the dead letter to go")
    await eventually(lambda: any(e.type == "jobs.succeeded.v1" for e in seen), what="JobSucceeded")
