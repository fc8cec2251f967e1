from typing import Annotated, ClassVar

from pydantic import Field

from contracts.base import Event


class JobProgressed(Event):
    """A long-running job moved forward."""

    event_name: ClassVar[str] = "jobs.progressed"
    event_version: ClassVar[int] = 1

    job_id: str
    service: str
    job: str
    key: str
    percent: Annotated[float, Field(ge=0, le=100)]
    message: str = ""
