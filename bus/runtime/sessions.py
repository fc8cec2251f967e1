"""What a replica's persistent session subscribes to, remembered from one start to the next.

A persistent session keeps its subscriptions in the broker until the client unsubscribes.
A version of a service that drops a handler (or subscribes differently) would otherwise
go on receiving what the old subscription matches, and never acknowledge it (see
:func:`bus._internal.mqtt.release_filters`). Each start compares the filters the replica
subscribes to now with those it subscribed to last time (kept in Redis, per client id) and
releases the ones it no longer wants.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from redis.asyncio import Redis

from bus._internal.infra import UNREACHABLE
from bus._internal.mqtt import MQTT_ERRORS, Client, release_filters
from bus.constants import SESSION_FILTERS_KEY

log = logging.getLogger("bus.sessions")

_UNREACHABLE: tuple[type[BaseException], ...] = (*UNREACHABLE, *MQTT_ERRORS)


class SessionFilters:
    """The filters one client id's persistent session was last known to hold.

    Kept without expiry: a replica may run longer than any lifetime given at its start,
    and releasing a filter a session no longer holds (the broker forgot the session) only
    costs a subscribe and an unsubscribe.

    Args:
        redis: Where they are kept.
        client_id: The replica's client id (its session).
    """

    def __init__(self, redis: Redis, client_id: str) -> None:
        self.redis = redis
        self.key = SESSION_FILTERS_KEY.format(client_id=client_id)

    async def stale(self, current: Iterable[str], *, earlier: Iterable[str] = ()) -> list[str]:
        """The filters the session holds that ``current`` does not name: those of the last
        start, or, with none remembered (a first start under this version), ``earlier``,
        the filters earlier versions subscribed to."""
        remembered = {m.decode() for m in await self.redis.smembers(self.key)}  # type: ignore[misc]
        return sorted((remembered or set(earlier)) - set(current))

    async def remember(self, current: Iterable[str]) -> None:
        """Keep ``current`` as what the session holds now."""
        filters = sorted(set(current))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.key)
            if filters:
                pipe.sadd(self.key, *filters)
            await pipe.execute()

    async def prune(
        self, client: Client, current: list[str], *, earlier: Iterable[str] = ()
    ) -> dict[str, int]:
        """Release the stale filters on ``client`` (the replica's connection, its own
        subscriptions in place), then remember ``current``; never raises for an
        unreachable Redis or broker (the next start tries again). Returns what
        :func:`~bus._internal.mqtt.release_filters` dropped."""
        try:
            stale = await self.stale(current, earlier=earlier)
            dropped = await release_filters(client, stale, keep=current) if stale else {}
            await self.remember(current)
        except _UNREACHABLE as exc:
            log.warning("could not release stale subscriptions (%r); next start tries", exc)
            return {}
        for topic_filter, count in dropped.items():
            log.warning(
                "unsubscribed %s, which this version no longer subscribes to (%d message(s) "
                "it held dropped)", topic_filter, count,
            )  # fmt: skip
        return dropped
