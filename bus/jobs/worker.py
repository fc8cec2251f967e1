"""The arq worker that runs a service's jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from arq.connections import ArqRedis
from arq.typing import WorkerCoroutine
from arq.worker import Worker, func

from bus.constants import JOB_QUEUE
from bus.jobs.declare import Job
from bus.jobs.queue import json_deserializer, json_serializer
from bus.jobs.runner import arq_max_tries, make_arq_function

if TYPE_CHECKING:
    from bus.deadletters import DeadLetterSink
    from bus.envelope import Envelope
    from contracts import Event

log = logging.getLogger("bus.jobs")


def build_worker(
    service: str,
    jobs: list[Job],
    *,
    queue: str | None = None,
    redis: ArqRedis,
    dead_letters: Callable[[], DeadLetterSink],
    publish: Callable[[Event], Awaitable[Envelope]],
    keep_result: int,
    max_jobs: int = 10,
    burst: bool = False,
) -> Worker:
    """An arq worker for ``jobs`` on the service's own queue (named after ``queue``, the
    service's scoped name, default ``service``).

    Results (failures included) are kept as long as dedup records, so the same
    job id is not accepted again until a deliberate re-run clears it.
    """
    functions = []
    for job in jobs:
        run = make_arq_function(
            service, job, redis=lambda: redis, dead_letters=dead_letters,
            publish=publish, done_ttl=keep_result,
        )  # fmt: skip
        functions.append(
            func(
                cast("WorkerCoroutine", run),
                name=job.name,
                timeout=job.timeout,
                max_tries=arq_max_tries(job),
                keep_result=keep_result,
            )
        )
    return Worker(
        functions,
        queue_name=JOB_QUEUE.format(service=queue or service),
        redis_pool=redis,
        handle_signals=False,
        burst=burst,
        max_jobs=max_jobs,
        keep_result=keep_result,
        poll_delay=0.1,
        job_serializer=json_serializer,
        job_deserializer=json_deserializer,
    )


async def stop_worker(worker: Worker, task: asyncio.Task[None], *, grace: float = 10.0) -> None:
    """Stop polling, give running jobs ``grace`` seconds, then cancel them (arq runs a
    cancelled job again later)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    running = list(worker.tasks.values())
    if running:
        log.info("waiting up to %.0fs for %d running job(s)", grace, len(running))
        _, pending = await asyncio.wait(running, timeout=grace)
        for job_task in pending:
            job_task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
