"""A long-running job, declared next to a service's handlers."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bus.constants import JOB_ID
from bus.handler import CompensationFunc
from bus.retry import RetryPolicy
from contracts import Event, JobProgressed

if TYPE_CHECKING:
    from bus.envelope import Envelope

JobFunc = Callable[..., Awaitable[Any]]

GIVE_UP_GRACE = 60.0
"""Seconds arq gives a try beyond its limit, for what follows a try that ran out of time:
the dead letter, ``JobFailed`` and the compensation (arq's own timeout is only a backstop:
it would end the try without them)."""


@dataclass(frozen=True, slots=True)
class Job:
    """A job function and how it runs.

    Attributes:
        func: ``async def f(job: JobContext, **kwargs)``; kwargs must be JSON-compatible.
        limit: Seconds one try may take (the runner ends it then: a retryable failure).
        retry: Tries in all, and the backoff between them.
        on_give_up: ``async def f(gave_up: GaveUp)``, run once the job failed for good
            (out of tries, the last one failed or ran out of time); None: nothing.
    """

    func: JobFunc
    limit: float
    retry: RetryPolicy
    on_give_up: CompensationFunc | None = None

    @classmethod
    def build(
        cls,
        func: JobFunc,
        *,
        timeout: float,
        retry: RetryPolicy,
        on_give_up: CompensationFunc | None = None,
    ) -> Job:
        if not inspect.iscoroutinefunction(func):
            msg = f"job {func.__qualname__} must be an async function"
            raise TypeError(msg)
        if not inspect.signature(func).parameters:
            msg = f"job {func.__qualname__} must take a JobContext as its first parameter"
            raise TypeError(msg)
        if timeout <= 0:
            raise ValueError(f"job {func.__qualname__}: timeout must be positive")
        if on_give_up is not None and not inspect.iscoroutinefunction(on_give_up):
            msg = f"job {func.__qualname__}: on_give_up must be an async function"
            raise TypeError(msg)
        return cls(func=func, limit=timeout, retry=retry, on_give_up=on_give_up)

    @property
    def timeout(self) -> float:
        """arq's timeout of one try: the limit plus :data:`GIVE_UP_GRACE`."""
        return self.limit + GIVE_UP_GRACE

    @property
    def name(self) -> str:
        return self.func.__name__


def job_id(service: str, job: str, key: str) -> str:
    """The arq job id of ``job`` under ``key`` in ``service``."""
    return JOB_ID.format(service=service, job=job, key=key)


@dataclass
class JobContext:
    """What a running job gets: who it is, and how to report progress.

    ``publish`` publishes an event that continues the chain of the event that
    asked for the job; ``publish_with_id`` (set by the bus's runner) the same, under a
    given id.
    """

    service: str
    job: str
    key: str
    job_id: str
    attempt: int
    cause: Envelope | None
    publish: Callable[[Event], Awaitable[Envelope]]
    publish_with_id: Callable[[Event, str], Awaitable[Envelope]] | None = None

    async def publish_once(self, event: Event, *, id: str) -> Envelope:
        """Publish ``event`` under ``id``: an id that every path publishing this outcome
        uses (a job and a compensation, say), so consumers skip all but the first. A
        context made without the bus (a test) publishes with ``publish``."""
        if self.publish_with_id is None:
            return await self.publish(event)
        return await self.publish_with_id(event, id)

    async def progress(self, percent: float, message: str = "") -> None:
        """Publish a :class:`~contracts.JobProgressed` event."""
        await self.publish(
            JobProgressed(
                job_id=self.job_id,
                service=self.service,
                job=self.job,
                key=self.key,
                percent=max(0.0, min(100.0, percent)),
                message=message,
            )
        )
