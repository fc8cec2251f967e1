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

from bus.groupcommit import GroupCommit
from bus.journal import record_many

if TYPE_CHECKING:
    from bus.envelope import Envelope

Write = Callable[[list["Envelope"]], Awaitable[list[bool]]]
"""Stores envelopes in one round trip; for each, False if its id was already there."""

MAX_BATCH = 100
"""Envelopes in one journal write at most (Mosquitto's Receive Maximum here is 100 too)."""


async def _record_many(envelopes: list[Envelope]) -> list[bool]:
    return await record_many(envelopes)  # looked up at each call (tests replace it)


class JournalBatcher(GroupCommit["Envelope", bool]):
    """Collects the envelopes of concurrent publishes into shared journal writes
    (:class:`bus.groupcommit.GroupCommit`).

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
        super().__init__(
            write or _record_many, max_batch=max_batch, linger=linger,
            name="journal-group-commit",
        )  # fmt: skip

    async def record(self, envelope: Envelope) -> bool:
        """Journal ``envelope`` with whatever else is pending; returns once its write is
        acknowledged: False if the id was already there (a redelivery). The write's
        error, if any, is raised here (and to every other publish of that write)."""
        return await self.submit(envelope)

    @property
    def writes(self) -> int:
        """Journal writes made (each one round trip), for tests and the bench."""
        return self.commits


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
