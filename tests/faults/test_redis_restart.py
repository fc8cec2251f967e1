"""Redis restarted while jobs are queued and running."""

import asyncio
import signal
from collections.abc import Callable

import pytest
from beanie import Document
from pymongo.errors import DuplicateKeyError

from bus import BusSettings, Service
from bus.jobs import JobContext
from tests.faults.conftest import PrivateStack
from tests.helpers import eventually

pytestmark = pytest.mark.timeout(300)

JOBS = 120


class Completion(Document):
    """A job that ran to completion: ``_id`` is its key, so a second completion fails."""

    id: str  # type: ignore[assignment]

    class Settings:
        name = "completions"


class SecondCompletion(Document):
    key: str

    class Settings:
        name = "second_completions"


async def test_no_job_is_lost_or_completed_twice_across_a_redis_restart(
    settings: BusSettings,
    services: list[Service],
    unique: Callable[[str], str],
    private_stack: PrivateStack,
    report: list[str],
) -> None:
    await private_stack.up("redis")
    settings = settings.model_copy(update={"redis_url": private_stack.url("redis")})
    service = Service(unique("worker"), settings=settings, documents=[Completion, SecondCompletion])
    started: set[str] = set()

    @service.job(timeout=60)
    async def slow(job: JobContext, n: int) -> int:
        started.add(job.key)
        await asyncio.sleep(0.3)
        try:
            await Completion(id=job.key).insert()
        except DuplicateKeyError:
            await SecondCompletion(key=job.key).insert()
        return n

    services.append(service)
    await service.start(work=True)
    accepted = [await service.enqueue(slow, key=str(n), n=n) for n in range(JOBS)]
    assert all(accepted)

    await eventually(lambda: len(started) >= 30, what="30 jobs to start")  # most still queued
    await private_stack.restart("redis", signal.SIGTERM)
    restarted_after = len(started)

    for _ in range(600):
        if await Completion.count() >= JOBS:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    done, twice = await Completion.count(), await SecondCompletion.count()
    report.append(
        f"redis restarted with {restarted_after} of {JOBS} jobs started: completed {done}, "
        f"lost {JOBS - done}, completed twice {twice}"
    )
    assert done == JOBS
    assert twice == 0
