"""Group commit: concurrent callers share one round trip to a store.

An item that finds no commit in flight starts one at once (no fixed delay: a lone item
costs one round trip, as without batching). Items that arrive while it is in flight
queue up, and the next commit takes them all (up to ``max_batch``). So a caller waits
at most for the commit in flight and then its own, and learns its own item's result
only once the commit holding it was acknowledged. Under load (``busy_linger``), a commit
may wait a moment for more items, so that each round trip carries more of them.

Used by journal-first publishing (:mod:`bus.runtime.journal_batch`) and by the dedup
records in Redis (:mod:`bus.dedup`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

_BUSY_FOR = 0.05
"""Seconds after a shared commit during which the next one counts as busy (a lone item
after a pause goes at once)."""

T = TypeVar("T")
R = TypeVar("R")

Commit = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]
"""Stores a batch in one round trip; one result per item, in order. An exception in the
list fails only its item; an exception raised fails the whole batch."""


class GroupCommit(Generic[T, R]):
    """Collects the items of concurrent callers into shared commits.

    Args:
        commit: One batch's round trip.
        max_batch: Items in one commit at most; more wait for the next one.
        linger: Seconds a commit waits for more items before it starts when it holds
            fewer than ``max_batch`` (0, the default: never; only what queued during
            the previous commit is grouped).
        busy_linger: The same wait, only while busy: when the previous commit held more
            than one item and ended moments ago. A lone item still goes at once.
        name: The name of the task that commits (for debugging).
    """

    def __init__(
        self,
        commit: Commit[T, R],
        *,
        max_batch: int = 100,
        linger: float = 0.0,
        busy_linger: float = 0.0,
        name: str = "group-commit",
    ) -> None:
        if max_batch < 1:
            msg = "max_batch must be at least 1"
            raise ValueError(msg)
        self._commit_batch = commit
        self.max_batch = max_batch
        self.linger = linger
        self.busy_linger = busy_linger
        self.name = name
        self._last_size = 0
        self._last_end = 0.0
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._committer: asyncio.Task[None] | None = None
        self.commits = 0
        """Commits made (each one round trip), for tests and the bench."""

    async def submit(self, item: T) -> R:
        """Commit ``item`` with whatever else is pending; returns its result once its
        commit is acknowledged. The commit's error, if any, is raised here (and to every
        other caller of that commit)."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        if self._committer is None:
            self._committer = asyncio.create_task(self._drain(), name=self.name)
        return await done

    async def _drain(self) -> None:
        try:
            while self._queue:
                loop = asyncio.get_running_loop()
                busy = self._last_size > 1 and loop.time() - self._last_end < _BUSY_FOR
                linger = max(self.busy_linger if busy else 0.0, self.linger)
                if linger > 0 and len(self._queue) < self.max_batch:
                    await asyncio.sleep(linger)
                batch = self._queue[: self.max_batch]
                self._last_size = len(batch)
                del self._queue[: self.max_batch]
                await self._commit(batch)
                self._last_end = asyncio.get_running_loop().time()
        finally:
            self._committer = None
            # Cancelled (the loop is closing): nobody is left to commit what queued.
            for _, done in self._queue:
                done.cancel()
            self._queue.clear()

    async def _commit(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.commits += 1
        try:
            results = await self._commit_batch([item for item, _ in batch])
            if len(results) != len(batch):
                msg = f"{self.name}: a commit answered {len(results)} of {len(batch)} items"
                raise RuntimeError(msg)
        except asyncio.CancelledError:
            for _, done in batch:
                done.cancel()
            raise
        except Exception as error:
            for _, done in batch:
                if not done.done():
                    done.set_exception(error)
            return
        for (_, done), result in zip(batch, results, strict=True):
            if done.done():  # a caller cancelled while waiting
                continue
            if isinstance(result, BaseException):
                done.set_exception(result)
            else:
                done.set_result(result)
