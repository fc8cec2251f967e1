"""Running one job try inside arq: dedup of completions, progress, retries, dead letters."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from typing import Any

from arq.worker import Retry
from redis.asyncio import Redis

from bus import tracing
from bus._internal.infra import until_reachable
from bus.constants import JOB_DONE_KEY
from bus.context import handling
from bus.deadletters import DeadLetter, DeadLetterSink
from bus.envelope import Envelope
from bus.handler import GaveUp, run_compensation
from bus.jobs.declare import Job, JobContext
from bus.metrics import JOBS, JOBS_RUNNING
from contracts import JobFailed, JobSucceeded

log = logging.getLogger("bus.jobs")

Publish = Callable[..., Awaitable[Envelope]]
"""Publishes an event: ``(event)``, or ``(event, id=...)`` under a given id."""


INTERRUPTIONS = 2
"""Tries a job may lose to a worker that stopped mid-run (killed, say), beyond its retry
policy: arq runs such a job again, and counts it as a try."""


class JobTimeoutError(TimeoutError):
    """A try of a job took longer than its limit (retried like any other failure)."""


class JobInterruptedError(RuntimeError):
    """A job's tries kept ending with its worker: given up on, like a job that failed."""


def arq_max_tries(job: Job) -> int:
    """The tries arq allows ``job``: its policy's, those lost to stopped workers, and one
    more in which the bus gives up on it itself (else arq would end the job on its own,
    with no dead letter, no ``JobFailed`` and no compensation)."""
    return job.retry.attempts + INTERRUPTIONS + 1


def deadletter_id(job_id: str) -> str:
    """One dead letter per job, updated when a replay fails again."""
    return f"job:{job_id}"


def make_arq_function(
    service: str,
    job: Job,
    *,
    redis: Callable[[], Redis],
    dead_letters: Callable[[], DeadLetterSink],
    publish: Publish,
    done_ttl: int,
) -> Callable[..., Awaitable[Any]]:
    """The coroutine arq calls for ``job``: ``(ctx, *, key, cause, kwargs, trace)``."""

    async def run(
        ctx: dict[str, Any],
        *,
        key: str,
        cause: str | None,
        kwargs: dict[str, Any],
        trace: dict[str, str] | None = None,
    ) -> Any:
        job_id: str = ctx["job_id"]
        attempt: int = ctx["job_try"]
        cause_envelope = Envelope.model_validate_json(cause) if cause else None
        # A job asked for by a handler continues its span; a re-run from dead letters
        # carries no context of its own and continues the causing event's trace.
        parent = tracing.extract(trace) if trace else tracing.envelope_context(cause_envelope)
        with (
            tracing.running_job(service, job.name, job_id, attempt, parent) as span,
            JOBS_RUNNING.labels(service, job.name).track_inprogress(),
        ):
            try:
                return await attempt_job(job_id, attempt, key, cause_envelope, kwargs)
            except Retry as retry:
                tracing.failed(span, retry.__cause__ or retry, description="retrying")
                raise
            except Exception as exc:
                tracing.failed(span, exc)
                raise

    async def attempt_job(
        job_id: str,
        attempt: int,
        key: str,
        cause_envelope: Envelope | None,
        kwargs: dict[str, Any],
    ) -> Any:
        done_key = JOB_DONE_KEY.format(job_id=job_id)
        store = redis()
        stored = await until_reachable(lambda: store.get(done_key), what="job dedup")
        if stored is not None:
            log.info("%s: job %s already completed, not run again", service, job_id)
            JOBS.labels(service, job.name, "skipped").inc()
            return json.loads(stored)

        context = JobContext(
            service=service, job=job.name, key=key, job_id=job_id,
            attempt=attempt, cause=cause_envelope, publish=publish,
            publish_with_id=lambda event, id: publish(event, id=id),
        )  # fmt: skip
        with handling(cause_envelope, scope=job_id) if cause_envelope else nullcontext():
            try:
                try:
                    _check_interruptions(job, attempt)
                    async with asyncio.timeout(job.limit):
                        result = await job.func(context, **kwargs)
                except TimeoutError as exc:
                    msg = f"try {attempt} took longer than {job.limit:g}s"
                    raise JobTimeoutError(msg) from exc
            except Exception as exc:
                if attempt < job.retry.attempts and job.retry.is_retryable(exc):
                    delay = _delay(job, attempt)
                    log.warning(
                        "%s: job %s failed (try %d/%d: %r), retrying in %.2fs",
                        service, job_id, attempt, job.retry.attempts, exc, delay,
                    )  # fmt: skip
                    JOBS.labels(service, job.name, "retried").inc()
                    raise Retry(defer=delay) from exc
                await _give_up(
                    service, job=job, context=context, kwargs=kwargs, exc=exc,
                    sink=dead_letters(), publish=publish,
                )  # fmt: skip
                JOBS.labels(service, job.name, "failed").inc()
                raise
            encoded = json.dumps(result, default=str)
            await until_reachable(
                lambda: store.set(done_key, encoded, ex=done_ttl), what="job dedup"
            )
            await until_reachable(
                lambda: dead_letters().resolve(deadletter_id(job_id)), what="dead letters"
            )
            await publish(
                JobSucceeded(
                    job_id=job_id, service=service, job=job.name, key=key,
                    result=json.loads(encoded), attempts=attempt,
                )
            )  # fmt: skip
            JOBS.labels(service, job.name, "succeeded").inc()
            return result

    run.__name__ = job.name
    return run


def _check_interruptions(job: Job, attempt: int) -> None:
    """Raise at the try arq allows beyond the policy and the interruptions: the job is
    given up on (dead letter, ``JobFailed``, compensation) instead of run."""
    if attempt >= arq_max_tries(job):
        msg = (
            f"not run again at try {attempt}: its worker stopped mid-run more often than the "
            f"{INTERRUPTIONS} interruptions allowed beyond the policy's {job.retry.attempts} tries"
        )
        raise JobInterruptedError(msg)


def _delay(job: Job, attempt: int) -> float:
    delays = list(job.retry.delays())
    return delays[min(attempt, len(delays)) - 1] if delays else 0.0


async def _give_up(
    service: str,
    *,
    job: Job,
    context: JobContext,
    kwargs: dict[str, Any],
    exc: BaseException,
    sink: DeadLetterSink,
    publish: Publish,
) -> None:
    letter = DeadLetter(
        id=deadletter_id(context.job_id),
        service=service,
        topic="",
        kind="job",
        reason=f"job {job.name} failed: {type(exc).__name__}: {exc}",
        event_id=context.cause.id if context.cause else None,
        event_type=context.cause.type if context.cause else None,
        envelope=context.cause.model_dump(mode="json", exclude_none=True)
        if context.cause
        else None,
        attempts=context.attempt,
        job={"name": job.name, "key": context.key, "job_id": context.job_id, "kwargs": kwargs},
        **DeadLetter.describe(exc),
    )
    log.error("%s: job %s dead-lettered: %s", service, context.job_id, letter.reason)
    await until_reachable(lambda: sink.replay_failed(letter.id, letter), what="dead letters")
    await publish(
        JobFailed(
            job_id=context.job_id, service=service, job=job.name, key=context.key,
            error=letter.reason, attempts=context.attempt, deadletter_id=letter.id,
        )
    )  # fmt: skip
    compensate = job.on_give_up
    if compensate is not None:
        gave_up = GaveUp(
            kind="job", reason=letter.reason, letter_id=letter.id, attempts=context.attempt,
            envelope=context.cause, job=job.name, kwargs=kwargs,
        )  # fmt: skip
        # Inside the job's own handling (if a handler asked for it): its own scope, so the
        # ids it publishes differ from the job's and repeat when it runs again.
        await run_compensation(
            service, f"{job.name}.on_give_up", lambda: compensate(gave_up), gave_up,
            retry=job.retry, scope=f"compensate:{context.job_id}",
        )  # fmt: skip
