"""Dead letters older than ``BUS_DEADLETTER_RETENTION`` are purged, by the journal service,
with real documents on the real store."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from bus import BusSettings, Service
from bus.constants import ARQ_RESULT_KEY, ARQ_RETRY_KEY
from bus.deadletters import DeadLetter, StoredDeadLetter
from bus.deadletters.retention import PURGED, purge_expired
from bus.mongo import connect_mongo, release_mongo
from services.journal import create_service
from tests.helpers import counted, eventually

NOW = datetime.now(UTC)


def letter(service: str, *, days: float, letter_id: str | None = None) -> DeadLetter:
    fields = {"id": letter_id} if letter_id else {}
    return DeadLetter(
        service=service, topic="documents/uploaded/v1", kind="failed", reason="ValueError: x",
        dead_at=NOW - timedelta(days=days), **fields,
    )  # fmt: skip


async def insert(*letters: DeadLetter) -> None:
    for each in letters:
        await StoredDeadLetter(**each.model_dump()).insert()


async def test_a_purge_deletes_only_letters_past_retention_and_counts_them(
    settings: BusSettings, unique: Callable[[str], str]
) -> None:
    one, two = unique("one"), unique("two")
    job_id = f"{settings.namespace}.{two}:inspect:doc-1"
    old = [
        letter(one, days=31),
        letter(one, days=45),
        letter(two, days=40, letter_id=f"job:{job_id}"),
    ]
    young = [letter(one, days=29), letter(two, days=0)]
    redis: Redis = Redis.from_url(settings.redis_url)
    result_key, retry_key = (
        ARQ_RESULT_KEY.format(job_id=job_id),
        ARQ_RETRY_KEY.format(job_id=job_id),
    )
    await redis.set(result_key, b"failed", ex=60)
    await redis.set(retry_key, b"1", ex=60)
    await connect_mongo(settings.mongo_url, [StoredDeadLetter])
    try:
        await insert(*old, *young)
        before = counted(PURGED, service=one)

        assert await purge_expired(timedelta(0), redis=redis) == {}
        assert await StoredDeadLetter.count() == 5

        purged = await purge_expired(timedelta(days=30), redis=redis, now=NOW)

        assert purged == {one: 2, two: 1}
        left = {each.id for each in await StoredDeadLetter.find().to_list()}
        assert left == {each.id for each in young}
        assert counted(PURGED, service=one) == before + 2
        # The job's kept failure went with its letter: the job can be asked for again.
        assert not await redis.exists(result_key, retry_key)
        assert await purge_expired(timedelta(days=30), redis=redis, now=NOW) == {}
    finally:
        await release_mongo(settings.mongo_url)
        await redis.delete(result_key, retry_key)
        await redis.aclose()


async def test_the_journal_purges_expired_letters_once_it_starts(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    fragile = unique("fragile")
    old, young = letter(fragile, days=3), letter(fragile, days=0.5)
    await connect_mongo(settings.mongo_url, [StoredDeadLetter])
    try:
        await insert(old, young)
    finally:
        await release_mongo(settings.mongo_url)
    journal = create_service(
        unique("journal"),
        settings=settings.model_copy(update={"deadletter_retention": timedelta(days=1)}),
    )
    services.append(journal)
    await journal.start()

    async def old_gone() -> bool:
        return await StoredDeadLetter.get(old.id) is None

    await eventually(old_gone, what="the journal to purge the expired letter")
    assert await StoredDeadLetter.get(young.id) is not None
    assert counted(PURGED, service=fragile) == 1
