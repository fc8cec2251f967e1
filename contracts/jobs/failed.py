from typing import ClassVar

from contracts.base import Event


class JobFailed(Event):
    """A long-running job gave up; it waits in dead letters for a replay."""

    event_name: ClassVar[str] = "jobs.failed"
    event_version: ClassVar[int] = 1

    job_id: str
    service: str
    job: str
    key: str
    error: str
    attempts: int
    deadletter_id: str
