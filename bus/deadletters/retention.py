"""Dead letters do not grow forever: those older than ``BUS_DEADLETTER_RETENTION`` are purged.

A purge runs in the journal service (:func:`keep_purging`), which every stack runs, rather
than through a TTL index: FerretDB 1.24 refuses ``expireAfterSeconds`` ("Index option
... is not implemented yet", measured), and a purge can say what it removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client import Counter

from bus.deadletters.models import StoredDeadLetter
from bus.deadletters.store import JOB_LETTER_PREFIX, forget_job_failures
from bus.errors import BusNotStartedError

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bus.service import Service

log = logging.getLogger("bus.deadletters")

PURGE_INTERVAL = 3600.0
"""Seconds between two purges of one replica (the first runs when it starts). Retention is
counted in days; and on FerretDB 1.24 (SQLite) even a purge that finds nothing reads every
letter (about 2 s per thousand, measured on a loaded 2-core machine)."""

PURGED = Counter(
    "chorus_deadletters_purged_total",
    "Dead letters deleted for being older than BUS_DEADLETTER_RETENTION, by service.",
    ["service"],
)


async def purge_expired(
    retention: timedelta, *, redis: Redis | None = None, now: datetime | None = None
) -> dict[str, int]:
    """Delete the dead letters whose last failure is more than ``retention`` ago.

    A ``retention`` of 0 keeps every letter. A job's letter takes arq's kept failure
    with it (with ``redis``), as ``bus dlq discard`` does.

    Returns:
        How many letters were deleted, by service (empty when none were).
    """
    if retention <= timedelta(0):
        return {}
    cutoff = (now or datetime.now(UTC)) - retention
    expired = {"dead_at": {"$lt": cutoff}}
    collection = StoredDeadLetter.get_pymongo_collection()
    purged: dict[str, int] = {}
    jobs: list[str] = []
    async for document in collection.find(expired, {"service": 1}):
        purged[document["service"]] = purged.get(document["service"], 0) + 1
        if document["_id"].startswith(JOB_LETTER_PREFIX):
            jobs.append(document["_id"].removeprefix(JOB_LETTER_PREFIX))
    if not purged:
        return {}
    # One delete by the same filter: FerretDB (1.24, SQLite) scans the whole collection
    # for each request, whatever it asks; a letter that failed again since is younger.
    await collection.delete_many(expired)
    if jobs and redis is not None:
        await forget_job_failures(redis, jobs)
    for service, count in purged.items():
        PURGED.labels(service).inc(count)
    if purged:
        log.info(
            "purged %d dead letter(s) older than %s: %s",
            sum(purged.values()), retention,
            ", ".join(f"{service} {count}" for service, count in sorted(purged.items())),
        )  # fmt: skip
    return purged


def keep_purging(service: Service, *, every: float = PURGE_INTERVAL) -> None:
    """Purge expired dead letters in each replica of ``service``: once its stores are open,
    then every ``every`` seconds until it stops, with the retention its settings give at
    that moment. A purge that fails (a store restarting) is logged and tried next time."""
    task: asyncio.Task[None] | None = None

    async def loop() -> None:
        while True:
            try:
                stores = service.replica.stores
            except BusNotStartedError:  # in memory (bus.testing): no store to purge
                return
            if stores is None:
                return
            try:
                await purge_expired(
                    service.settings.deadletter_retention,
                    redis=stores.redis,
                )
            except Exception:
                log.exception("%s: purging expired dead letters failed", service.name)
            await asyncio.sleep(every)

    @service.on_startup
    async def start() -> None:
        nonlocal task
        task = asyncio.create_task(loop(), name=f"{service.name}-deadletter-purge")

    @service.on_shutdown
    async def stop() -> None:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
