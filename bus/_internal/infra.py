"""Waiting out an unreachable store instead of losing or mishandling an event."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo.errors import ConnectionFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

T = TypeVar("T")

log = logging.getLogger("bus.infra")

UNREACHABLE = (OSError, ConnectionFailure, RedisConnectionError, RedisTimeoutError)
"""Errors that mean a store is down or restarting, not that the work is wrong."""


async def until_reachable(
    operation: Callable[[], Awaitable[T]], *, what: str, max_delay: float = 5.0
) -> T:
    """Run ``operation``, retrying for as long as its store is unreachable.

    Blocking the stream while Redis or MongoDB restarts is the point: handling
    an event without its dedup record, or dropping a dead letter, would break
    the guarantees the bus gives.
    """
    delay = 0.1
    while True:
        try:
            return await operation()
        except UNREACHABLE as exc:
            log.warning("%s: store unreachable (%s), retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(max_delay, delay * 2)


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait until it has ended (nothing if None)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
