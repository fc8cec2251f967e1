"""Catch-up's read of the journal (``bus.journal.since``) against the real store: minute
by minute, by equalities the store answers from its index, and the old way for a window
that starts before the journal named minutes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from bus import BusSettings, Envelope
from bus.journal import MINUTES, JournalEntry, minute_of, record, since
from bus.mongo import connect_mongo, release_mongo
from tests.helpers import uploaded

UPLOADED = "documents.uploaded.v1"


@pytest.fixture
async def journal(settings: BusSettings) -> AsyncIterator[AsyncDatabase[dict[str, object]]]:
    client = await connect_mongo(settings.mongo_url, [JournalEntry])
    try:
        yield client.get_default_database()
    finally:
        await release_mongo(settings.mongo_url)


async def _recorded(n: int, at: datetime, *, type_: str = UPLOADED) -> JournalEntry:
    envelope = Envelope.wrap(uploaded(n), source="/test/since")
    entry = JournalEntry(
        id=envelope.id, type=type_, source=envelope.source, time=envelope.time,
        envelope=envelope.model_dump(mode="json"), recorded_at=at,
    )  # fmt: skip
    await entry.insert()
    return entry


async def test_since_reads_the_window_minute_by_minute(
    journal: AsyncDatabase[dict[str, object]],
) -> None:
    now = datetime.now(UTC)
    await journal[MINUTES].insert_one({"_id": "since", "at": now - timedelta(hours=2)})
    assert await record(Envelope.wrap(uploaded(0), source="/test/since"))
    old = await _recorded(1, now - timedelta(minutes=10))
    # Read the old way, this one would be found: it names no minute.
    await journal["journal"].insert_one(
        {"_id": "unnamed", "type": UPLOADED, "recorded_at": now - timedelta(minutes=2)}
    )
    inside = [await _recorded(n, now - timedelta(minutes=n)) for n in (4, 2, 3)]
    other_type = await _recorded(5, now - timedelta(minutes=1), type_="documents.ready.v1")

    found = await since([UPLOADED], now - timedelta(minutes=5))
    ids = [e.id for e in found]
    assert [e.id for e in sorted(inside, key=lambda e: e.recorded_at)] == ids[:3]
    assert old.id not in ids
    assert other_type.id not in ids
    assert "unnamed" not in ids  # read minute by minute
    assert len(ids) == 4  # and the one record() wrote just now
    assert found == sorted(found, key=lambda e: e.recorded_at)


async def test_a_minute_is_read_by_an_equality_the_store_answers_itself(
    journal: AsyncDatabase[dict[str, object]],
) -> None:
    explained = await journal.command(
        "explain", {"find": "journal", "filter": {"minute": minute_of(datetime.now(UTC))}}
    )
    if "ferretdbVersion" not in explained.get("serverInfo", {}):
        pytest.skip("MongoDB: its own index serves the equality")
    assert explained["filterPushdown"] is True
    scan = await journal.command(
        "explain", {"find": "journal", "filter": {"type": {"$in": [UPLOADED]}}}
    )
    assert scan["filterPushdown"] is False  # what since() read before


@pytest.mark.parametrize(
    ("noted_ago", "window", "read_whole"),
    [
        # The window starts before the journal named minutes.
        (timedelta(minutes=1), timedelta(minutes=5), True),
        # It starts after, but within the grace an upgrade may take to roll through.
        (timedelta(minutes=30), timedelta(minutes=5), True),
        # Past the grace: minute by minute, and an entry without a minute is not seen.
        (timedelta(hours=2), timedelta(minutes=5), False),
    ],
)
async def test_a_window_near_or_before_the_journal_named_minutes_is_read_whole(
    journal: AsyncDatabase[dict[str, object]],
    noted_ago: timedelta,
    window: timedelta,
    read_whole: bool,
) -> None:
    now = datetime.now(UTC)
    # An entry an earlier version wrote: no minute.
    envelope = Envelope.wrap(uploaded(1), source="/test/since")
    await journal["journal"].insert_one(
        {"_id": envelope.id, "type": UPLOADED, "source": envelope.source,
         "time": envelope.time, "envelope": envelope.model_dump(mode="json"),
         "recorded_at": now - timedelta(minutes=3)}
    )  # fmt: skip
    await journal[MINUTES].insert_one({"_id": "since", "at": now - noted_ago})
    found = [e.id for e in await since([UPLOADED], now - window)]
    assert found == ([envelope.id] if read_whole else [])


async def test_an_entry_from_a_writer_whose_clock_is_ahead_is_found(
    journal: AsyncDatabase[dict[str, object]],
) -> None:
    now = datetime.now(UTC)
    await journal[MINUTES].insert_one({"_id": "since", "at": now - timedelta(hours=2)})
    ahead = await _recorded(1, now + timedelta(minutes=5))
    assert [e.id for e in await since([UPLOADED], now - timedelta(minutes=1))] == [ahead.id]
