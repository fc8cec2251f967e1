"""One watcher of a replica's broker connection, for everything that reacts to a gap.

zmqtt reconnects by itself and says nothing when it does; what it offers is the number
of the connection that is up (:func:`~bus._internal.broker.connection_id`). The watcher
looks at it a few times a second and tells its listeners when a new connection follows
an earlier one: catch-up reads the journal from before the gap, presence announces the
replica again (the old connection's will may have deleted it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from bus._internal.broker import connection_id
from bus._internal.infra import cancel

if TYPE_CHECKING:
    from bus._internal.broker import Broker

log = logging.getLogger("bus.connection")

TICK = 0.25
"""Seconds between looks at the connection."""

Listener = Callable[[float], Coroutine[Any, Any, None]]
"""Called after a reconnection with the time (epoch seconds) the old connection was
last seen up."""


class ConnectionWatcher:
    """Follows one broker's connection and calls listeners after each reconnection.

    Args:
        broker: The replica's started broker.
    """

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._listeners: list[Listener] = []
        self._seen: int | None = None
        self.last_up = time.time()
        """When a connection was last seen up (epoch seconds)."""
        self._task: asyncio.Task[None] | None = None

    @property
    def current(self) -> int | None:
        """The connection up right now, or None during a gap."""
        return connection_id(self._broker)

    @property
    def connected(self) -> bool:
        return self.current is not None

    def on_reconnect(self, listener: Listener) -> None:
        """Call ``listener`` (in a task of its own) after each reconnection."""
        self._listeners.append(listener)

    def start(self) -> None:
        self._seen = self.current
        self._task = asyncio.create_task(self._watch(), name="connection-watcher")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def _watch(self) -> None:
        listening: set[asyncio.Task[None]] = set()
        try:
            while True:
                current, now = self.current, time.time()
                if current is not None:
                    if self._seen is not None and current != self._seen:
                        log.info("broker connection %d replaced %d", current, self._seen)
                        for listener in self._listeners:
                            task = asyncio.create_task(listener(self.last_up))
                            listening.add(task)
                            task.add_done_callback(listening.discard)
                    self._seen, self.last_up = current, now
                await asyncio.sleep(TICK)
        finally:
            for task in listening:
                task.cancel()
            await asyncio.gather(*listening, return_exceptions=True)
