"""Catching up from the journal on events the broker dropped for a service.

Mosquitto 2.0 keeps a persistent session's plain subscriptions across its own
restart, but not its shared ones (checked on 2.0.11 and 2.0.21): after a broker
restart, events published before a service has subscribed again are dropped
for that service, and a service that was down at the time misses everything
until it is back. The journal holds plain subscriptions, so it has them; each
replica therefore re-reads the journal from a little before it lost its
connection, and delivers what it finds through its normal pipeline, where the
dedup records skip everything it already handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from redis.asyncio import Redis

from bus._internal.infra import UNREACHABLE
from bus.constants import ALIVE_KEY
from bus.errors import PoisonMessageError
from bus.handler import Handler
from bus.journal import since
from bus.runtime.pipeline import Decoded, Delivery, Outcome, SourceCheck, Via

log = logging.getLogger("bus.catchup")

MARGIN = 5.0
"""Seconds before the connection was last seen up that catch-up starts from."""

PASSES = (1.0, 5.0)
"""Seconds after a (re)connection at which the journal is read: the journal may lag."""

HEARTBEAT = 2.0
"""Seconds between updates of the replica's last-alive time in Redis."""


class Connection(Protocol):
    """What catch-up needs to know of the replica's broker connection."""

    @property
    def connected(self) -> bool: ...


Deliver = Callable[[Delivery], Awaitable[Outcome]]


@dataclass
class CatchUp:
    """Catches one replica up after each gap in its broker connection.

    At start it reads the journal from a little before the replica was last alive
    (kept in Redis); after each reconnection (:meth:`reconnected`, called by the
    replica's connection watcher), from a little before the old connection was last
    seen up.

    Attributes:
        service: The service's name (logs).
        client_id: The replica's client id (its last-alive key).
        handlers: The handlers of the event types it reads back.
        deliver: The replica's pipeline.
        redis: Where the last-alive time is kept.
        connection: The replica's broker connection (a beat only while it is up).
        ttl: Seconds the last-alive time is kept.
        sources: The pipeline's source check: what it refuses is skipped here.
    """

    service: str
    client_id: str
    handlers: Sequence[Handler]
    deliver: Deliver
    redis: Redis
    connection: Connection
    ttl: int
    sources: SourceCheck | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def _key(self) -> str:
        return ALIVE_KEY.format(client_id=self.client_id)

    async def start(self) -> None:
        """Catch up on the time this replica was away, then keep its last-alive time."""
        last_alive = await self.redis.get(self._key)
        if last_alive is not None:
            self._schedule(float(last_alive) - MARGIN)
        await self._beat()
        self._spawn(self._heartbeat())

    async def reconnected(self, last_up: float) -> None:
        """The broker connection was replaced: catch up from before it went."""
        log.warning("%s: broker connection was lost; catching up", self.service)
        self._schedule(last_up - MARGIN)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self._beat()

    async def _beat(self) -> None:
        with contextlib.suppress(*UNREACHABLE):
            await self.redis.set(self._key, str(time.time()), ex=self.ttl)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            if self.connection.connected:
                await self._beat()  # a missed beat only makes catch-up start earlier

    def _spawn(self, coroutine: object) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coroutine)  # type: ignore[arg-type]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _schedule(self, moment: float) -> None:
        self._spawn(self._catch_up(moment))

    async def _catch_up(self, moment: float) -> None:
        start = datetime.fromtimestamp(moment, UTC)
        for delay in PASSES:
            await asyncio.sleep(delay)
            try:
                handled = await self.replay_since(start)
            except UNREACHABLE as exc:
                log.warning("%s: catch-up postponed, journal unreachable: %s", self.service, exc)
                continue
            except Exception:
                log.exception("%s: catch-up since %s failed", self.service, start.isoformat())
                return
            if handled:
                log.warning(
                    "%s: caught up on %d event(s) the broker had dropped since %s",
                    self.service, handled, start.isoformat(),
                )  # fmt: skip

    async def replay_since(self, start: datetime) -> int:
        """Deliver every journaled event of the handled types since ``start``;
        returns how many were handled now (not skipped as already handled)."""
        by_type = {h.event_type.contract.type: h for h in self.handlers if h.event_type}
        if not by_type:
            return 0
        handled = 0
        for entry in await since(list(by_type), start):
            handler = by_type[entry.type]
            payload = json.dumps(entry.envelope).encode()
            try:
                decoded = Decoded.read(handler, payload)
            except PoisonMessageError:
                continue  # dead-lettered when it was first delivered
            if self.sources is not None and self.sources.check(decoded.envelope):
                continue  # likewise
            outcome = await self.deliver(
                Delivery(handler, handler.topic, payload, via=Via.CATCH_UP, decoded=decoded)
            )
            handled += outcome is Outcome.HANDLED
        return handled
