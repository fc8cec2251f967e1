from typing import Any, ClassVar

from contracts.base import Event


class JobSucceeded(Event):
    """A long-running job finished and its result is known."""

    event_name: ClassVar[str] = "jobs.succeeded"
    event_version: ClassVar[int] = 1

    job_id: str
    service: str
    job: str
    key: str
    result: Any = None
    attempts: int = 1
