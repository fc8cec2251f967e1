"""Group commit for journal-first publishing: concurrent publishes in one process share
one journal write.

A publish that finds no write in flight starts one at once (no fixed delay: a lone
publish costs one insert, as before). Publishes that arrive while it is in flight queue
up, and the next write takes them all (up to ``max_batch``) in one unordered
``insert_many``. So a publish waits at most for the write in flight and then its own,
and each publisher sends only after the write holding its envelope was acknowledged.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bus.journal import record_many

if TYPE_CHECKING:
    from bus.envelope import Envelope

Write = Callable[[list["Envelope"]], Awaitable[list[bool]]]
"""Stores envelopes in one round trip; for each, False if its id was already there."""

MAX_BATCH = 100
"""Envelopes in one journal write at most (Mosquitto's Receive Maximum here is 100 too)."""


async def _record_many(envelopes: list[Envelope]) -> list[bool]:
    return await record_many(envelopes)  # looked up at each call (tests replace it)


class JournalBatcher:
    """Collects the envelopes of concurrent publishes into shared journal writes.

    Args:
        write: One batch's write (default :func:`bus.journal.record_many`).
        max_batch: Envelopes in one write at most; more wait for the next one.
        linger: Seconds a write waits for more envelopes before it starts when it holds
            fewer than ``max_batch`` (0, the default: never; only what queued during
            the previous write is grouped).
    """

    def __init__(
        self, write: Write | None = None, *, max_batch: int = MAX_BATCH, linger: float = 0.0
    ) -> None:
        if max_batch < 1:
            msg = "max_batch must be at least 1"
            raise ValueError(msg)
        self._write = write or _record_many
        self.max_batch = max_batch
        self.linger = linger
        self._queue: list[tuple[Envelope, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.writes = 0
        """Journal writes made (each one round trip), for tests and the bench."""

    async def record(self, envelope: Envelope) -> bool:
        """Journal ``envelope`` with whatever else is pending; returns once its write is
        acknowledged: False if the id was already there (a redelivery). The write's
        error, if any, is raised here (and to every other publish of that write)."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((envelope, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain(), name="journal-group-commit")
        return await done

    async def _drain(self) -> None:
        try:
            while self._queue:
                if self.linger > 0 and len(self._queue) < self.max_batch:
                    await asyncio.sleep(self.linger)
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                await self._commit(batch)
        finally:
            self._writer = None
            # Cancelled (the loop is closing): nobody is left to write what queued.
            for _, done in self._queue:
                done.cancel()
            self._queue.clear()

    async def _commit(self, batch: list[tuple[Envelope, asyncio.Future[bool]]]) -> None:
        self.writes += 1
        try:
            recorded = await self._write([envelope for envelope, _ in batch])
            if len(recorded) != len(batch):
                msg = f"a journal write answered {len(recorded)} of {len(batch)} envelopes"
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
        for (_, done), fresh in zip(batch, recorded, strict=True):
            if not done.done():  # a publish cancelled while waiting
                done.set_result(fresh)


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, JournalBatcher] = (
    weakref.WeakKeyDictionary()
)


def batcher() -> JournalBatcher:
    """This event loop's batcher, shared by every outbox and publisher running on it."""
    loop = asyncio.get_running_loop()
    found = _batchers.get(loop)
    if found is None:
        found = _batchers[loop] = JournalBatcher()
    return found


async def record(envelope: Envelope) -> bool:
    """Journal ``envelope`` through this event loop's batcher (see :class:`JournalBatcher`)."""
    return await batcher().record(envelope)
