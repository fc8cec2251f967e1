"""The health summary a replica puts in each heartbeat: cheap checks that never raise."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bus.discovery.models import Health

if TYPE_CHECKING:
    from pymongo import AsyncMongoClient
    from redis.asyncio import Redis

log = logging.getLogger("bus.discovery")

PROBE_TIMEOUT = 1.0
"""Seconds one store may take to answer a ping before it counts as unreachable."""


async def check_health(
    *, broker: bool, redis: Redis | None = None, mongo: AsyncMongoClient[Any] | None = None
) -> Health:
    """Whether the broker connection is up (``broker``) and Redis and MongoDB answer
    (None for a store the replica has not opened)."""
    redis_ok = mongo_ok = None
    if redis is not None:
        redis_ok = await _answers(redis.ping, "redis")
    if mongo is not None:
        mongo_ok = await _answers(lambda: mongo.admin.command("ping"), "mongo")
    return Health(broker=broker, redis=redis_ok, mongo=mongo_ok)


async def _answers(ping: Callable[[], Awaitable[Any]], what: str) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await ping()
    except Exception as exc:  # a check reports, it never fails the heartbeat: any error = down
        log.debug("health: %s did not answer: %r", what, exc)
        return False
    return True
