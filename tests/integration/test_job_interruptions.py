"""A job whose worker keeps stopping mid-run is given up on by the bus, not dropped by arq."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from bus import BusSettings, GaveUp, RetryPolicy
from bus.constants import JOB_DONE_KEY
from bus.deadletters.sink import MemoryDeadLetters
from bus.envelope import Envelope
from bus.jobs import JobContext
from bus.jobs.declare import Job
from bus.jobs.runner import INTERRUPTIONS, JobInterruptedError, arq_max_tries, make_arq_function
from contracts import Event, JobFailed, JobSucceeded

POLICY = RetryPolicy(attempts=2, initial_delay=0.0, max_delay=0.0)


@pytest.fixture
async def redis(settings: BusSettings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    yield client
    await client.aclose()


class Recorder:
    def __init__(self) -> None:
        self.runs = 0
        self.gave_up: list[GaveUp] = []
        self.published: list[Event] = []

    async def job(self, job: JobContext) -> str:
        self.runs += 1
        return "done"

    async def give_up(self, gave_up: GaveUp) -> None:
        self.gave_up.append(gave_up)

    async def publish(self, event: Event, **_: Any) -> Envelope:
        self.published.append(event)
        return Envelope.wrap(event, source="test")


async def run_try(redis: Redis, recorder: Recorder, attempt: int) -> tuple[Any, MemoryDeadLetters]:
    job = Job.build(recorder.job, timeout=5, retry=POLICY, on_give_up=recorder.give_up)
    sink = MemoryDeadLetters()
    run = make_arq_function(
        f"svc-{uuid.uuid4().hex[:6]}", job, redis=lambda: redis, dead_letters=lambda: sink,
        publish=recorder.publish, done_ttl=60,
    )  # fmt: skip
    ctx = {"job_id": f"job-{uuid.uuid4().hex}", "job_try": attempt}
    try:
        return await run(ctx, key="k", cause=None, kwargs={}), sink
    finally:
        await redis.delete(JOB_DONE_KEY.format(job_id=ctx["job_id"]))


async def test_the_last_try_arq_allows_gives_up_instead_of_running(redis: Redis) -> None:
    recorder = Recorder()
    last = arq_max_tries(Job.build(recorder.job, timeout=5, retry=POLICY))
    assert last == POLICY.attempts + INTERRUPTIONS + 1

    with pytest.raises(JobInterruptedError, match="stopped mid-run"):
        await run_try(redis, recorder, last)

    assert recorder.runs == 0
    [failed] = recorder.published
    assert isinstance(failed, JobFailed)
    assert "stopped mid-run" in failed.error
    [gave_up] = recorder.gave_up
    assert gave_up.kind == "job"


async def test_tries_lost_to_interruptions_still_run(redis: Redis) -> None:
    recorder = Recorder()
    result, sink = await run_try(redis, recorder, POLICY.attempts + INTERRUPTIONS)
    assert result == "done"
    assert recorder.runs == 1
    assert [type(e) for e in recorder.published] == [JobSucceeded]
    assert sink.letters == {}
