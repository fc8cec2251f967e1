"""Dead letters do not grow forever: those older than ``BUS_DEADLETTER_RETENTION`` are purged.

A purge runs as a scheduled job of the journal service (:func:`schedule_purges`), which
every stack runs, rather than through a TTL index: FerretDB 1.24 refuses
``expireAfterSeconds`` ("Index option ... is not implemented yet", measured), and a purge
can say what it removed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client import Counter

from bus.deadletters.models import StoredDeadLetter
from bus.deadletters.store import JOB_LETTER_PREFIX, forget_job_failures
from bus.jobs.declare import JobContext

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bus.service import Service

log = logging.getLogger("bus.deadletters")

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


def schedule_purges(service: Service) -> None:
    """Purge expired dead letters as a scheduled job of ``service``
    (:meth:`~bus.service.Service.cron`, at ``deadletter_purge_schedule``): once per tick
    however many replicas it runs, with the retention its settings give at that moment.
    A purge that fails (a store restarting) is retried and dead-lettered like any job."""

    @service.cron(service.settings.deadletter_purge_schedule, timeout=600)
    async def purge_dead_letters(job: JobContext, tick: str) -> dict[str, int]:
        stores = service.replica.stores
        return await purge_expired(
            service.settings.deadletter_retention,
            redis=stores.redis if stores is not None else None,
        )
