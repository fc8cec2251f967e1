"""Long-running work through arq, under deduplicated job ids.

Services declare jobs with :meth:`bus.Service.job` and ask for them with
:meth:`bus.Service.enqueue`; a job receives a :class:`JobContext`.
"""

from bus.jobs.declare import JobContext

__all__ = ["JobContext"]
