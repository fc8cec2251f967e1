"""Long-running work through arq, under deduplicated job ids."""

from bus.jobs.declare import Job, JobContext, job_id
from bus.jobs.queue import enqueue, rerun

__all__ = ["Job", "JobContext", "enqueue", "job_id", "rerun"]
