"""A replica's arq worker, kept polling through Redis restarts."""

from __future__ import annotations

import asyncio
import logging

from arq.worker import Worker

from bus._internal.infra import UNREACHABLE
from bus.jobs.worker import stop_worker

log = logging.getLogger("bus.jobs")


class JobWorker:
    """Runs an arq worker in the replica's loop until :meth:`stop`.

    Args:
        worker: The service's worker (:func:`bus.jobs.worker.build_worker`).
        service: Its service's name (logs).
    """

    def __init__(self, worker: Worker, service: str) -> None:
        self.worker = worker
        self.service = service
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"worker:{self.service}")

    async def stop(self) -> None:
        """Stop polling, let running jobs finish for a while, then cancel them."""
        if self._task is not None:
            await stop_worker(self.worker, self._task)
            self._task = None

    async def _supervise(self) -> None:
        """Keep the worker polling through Redis restarts (its loop dies on a lost
        connection; jobs already running carry on and finish once Redis is back)."""
        delay = 0.1
        while True:
            try:
                await self.worker.async_run()
                return
            except UNREACHABLE as exc:
                log.warning("%s: job worker lost Redis (%s), polling again in %.1fs",
                            self.service, exc, delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
