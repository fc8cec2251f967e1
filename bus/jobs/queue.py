"""Asking for a job under a key, and running a failed one again."""

from __future__ import annotations

import json
from typing import Any

from arq.connections import ArqRedis

from bus.constants import ARQ_RESULT_KEY, ARQ_RETRY_KEY, JOB_DONE_KEY, JOB_QUEUE
from bus.envelope import Envelope
from bus.jobs.declare import job_id


def json_serializer(obj: Any) -> bytes:
    """arq's job and result serializer: JSON, so Redis and dead letters stay readable."""
    return json.dumps(obj, default=repr).encode()


def json_deserializer(data: bytes) -> Any:
    return json.loads(data)


async def enqueue(
    redis: ArqRedis,
    *,
    service: str,
    job: str,
    key: str,
    kwargs: dict[str, Any],
    cause: Envelope | None,
    trace: dict[str, str] | None = None,
) -> bool:
    """Enqueue ``job`` under ``key``; False if that job is already queued, running or done.

    arq refuses an id while a job with it is queued or running, or while its
    result is kept (the bus keeps results as long as dedup records), so two
    replicas, or a redelivered event, asking for the same job get it once.
    ``service`` is the service's scoped name (:meth:`BusSettings.scoped`), which
    names its queue and its job ids; ``trace`` is the W3C trace context the job's
    span continues.
    """
    queued = await redis.enqueue_job(
        job,
        key=key,
        cause=cause.model_dump_json() if cause else None,
        kwargs=kwargs,
        trace=trace or None,
        _job_id=job_id(service, job, key),
        _queue_name=JOB_QUEUE.format(service=service),
    )
    return queued is not None


async def rerun(
    redis: ArqRedis, *, service: str, job: str, key: str, kwargs: dict[str, Any], cause: str | None
) -> bool:
    """Run a failed job again under its own id: forget arq's kept failure, then enqueue.

    A job that completed meanwhile (its completion record exists) is not run again.
    """
    the_id = job_id(service, job, key)
    if await redis.exists(JOB_DONE_KEY.format(job_id=the_id)):
        return False
    await redis.delete(ARQ_RESULT_KEY.format(job_id=the_id), ARQ_RETRY_KEY.format(job_id=the_id))
    queued = await redis.enqueue_job(
        job,
        key=key,
        cause=cause,
        kwargs=kwargs,
        _job_id=the_id,
        _queue_name=JOB_QUEUE.format(service=service),
    )
    return queued is not None
