"""Several deliveries of one subscription in flight, their PUBACKs in arrival order.

MQTT 5 (section 4.6) asks a client to acknowledge QoS 1 PUBLISH packets in the order
they arrived. A subscription therefore takes a ticket for each message as it arrives,
handles up to ``limit`` of them at once, and sends each PUBACK only when every earlier
message of the subscription has had its own. A handler that takes long holds back the
acknowledgements behind it (not their handling): the broker keeps those messages in
flight, and a crash then means redelivery, which dedup skips.

Messages may also be ordered by a key (a document id, say): those with the same key are
handled one after another, in arrival order; the others in parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger("bus.inbox")

M = TypeVar("M")


class Flow(Generic[M]):
    """One subscription's in-flight deliveries.

    Args:
        limit: Deliveries in flight at most; the next message waits for a free place
            (so the subscription stops reading, and the broker stops sending, past it).
        acknowledge: Sends one message's PUBACK.
    """

    def __init__(self, limit: int, acknowledge: Callable[[M], Awaitable[None]]) -> None:
        if limit < 1:
            raise ValueError("a subscription needs at least one delivery in flight")
        self.limit = limit
        self._acknowledge = acknowledge
        self._places = asyncio.Semaphore(limit)
        self._tickets = 0
        self._next_ack = 0
        self._done: dict[int, M | None] = {}
        self._acking = asyncio.Lock()
        self._tails: dict[Hashable, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def admit(
        self, message: M, work: Callable[[], Awaitable[object]], key: Hashable = None
    ) -> None:
        """Start ``work`` for ``message`` once a place is free; returns as soon as it
        started. Call in arrival order: the ticket is taken here."""
        ticket = self._tickets
        self._tickets += 1
        await self._places.acquire()
        before = self._tails.get(key) if key is not None else None
        mine: asyncio.Future[None] | None = None
        if key is not None:
            mine = asyncio.get_running_loop().create_future()
            self._tails[key] = mine
        task = asyncio.create_task(
            self._run(ticket, message, work, before=before, key=key, mine=mine)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self,
        ticket: int,
        message: M,
        work: Callable[[], Awaitable[object]],
        *,
        before: asyncio.Future[None] | None,
        key: Hashable,
        mine: asyncio.Future[None] | None,
    ) -> None:
        finished: M | None = None
        try:
            if before is not None:
                await asyncio.shield(before)
            await work()
            finished = message
        except Exception:  # the pipeline ends every delivery; this would be a bug in it
            log.exception("a delivery failed outside the pipeline; it is not acknowledged")
        finally:
            if mine is not None:
                mine.set_result(None)
                if self._tails.get(key) is mine:
                    del self._tails[key]
            self._places.release()
        await self._acknowledge_in_order(ticket, finished)

    async def _acknowledge_in_order(self, ticket: int, message: M | None) -> None:
        """``message`` None: its turn passes without a PUBACK (the broker sends it again
        on the next connection)."""
        self._done[ticket] = message
        async with self._acking:
            while self._next_ack in self._done:
                done = self._done.pop(self._next_ack)
                if done is not None:
                    await self._acknowledge(done)
                self._next_ack += 1

    @property
    def busy(self) -> bool:
        """Whether a delivery is in flight (its PUBACK not sent yet)."""
        return bool(self._tasks)

    async def settled(self) -> None:
        """Wait until nothing is in flight (what is admitted meanwhile included)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        """Cancel what is in flight (unacknowledged: the broker sends it again)."""
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
