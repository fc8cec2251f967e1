"""Events of long-running jobs (arq), whichever service runs them."""

from contracts.jobs.failed import JobFailed
from contracts.jobs.progressed import JobProgressed
from contracts.jobs.succeeded import JobSucceeded

__all__ = ["JobFailed", "JobProgressed", "JobSucceeded"]
