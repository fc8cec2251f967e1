"""``bus.mongo.save_by_key`` writes a document found by a text key, which FerretDB 1.24
on PostgreSQL has PostgreSQL look up by index; ``Document.save()`` finds it by its UUID
``_id``, which FerretDB filters itself after reading the whole table.

PostgreSQL's own counters of the table (``pg_stat_user_tables``) tell which rows were
read: they are flushed by FerretDB's connections within seconds, so the test waits for
the updates it made to be counted before it reads the rows read.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from beanie import Document
from pydantic import Field, model_validator
from pymongo.errors import DuplicateKeyError

from bus import BusSettings
from bus.mongo import connect_mongo, release_mongo, save_by_key
from tests.ferretdb import backend

ROWS = 1000

Stats = Callable[[], Awaitable[tuple[int, int]]]


class Keyed(Document):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)  # type: ignore[assignment]
    key: str = ""
    value: int = 0
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @model_validator(mode="after")
    def _key_is_the_id(self) -> Keyed:
        self.key = str(self.id)
        return self

    class Settings:
        name = f"keyed_{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def keyed(settings: BusSettings) -> AsyncIterator[list[Keyed]]:
    await connect_mongo(settings.mongo_url, [Keyed])
    documents = [Keyed(value=n) for n in range(ROWS)]
    await Keyed.insert_many(documents)
    try:
        yield documents
    finally:
        await Keyed.get_pymongo_collection().drop()
        await release_mongo(settings.mongo_url)


@pytest.fixture
async def table_stats(settings: BusSettings) -> AsyncIterator[Stats]:
    """A function returning (rows read by sequential scans, rows updated) of Keyed's table."""
    async with backend(settings) as ferretdb:
        table = await ferretdb.table(Keyed.Settings.name)

        async def stats() -> tuple[int, int]:
            row = await ferretdb.pg.fetchrow(
                "SELECT coalesce(seq_tup_read, 0) AS r, n_tup_upd AS u"
                " FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2",
                ferretdb.schema, table,
            )  # fmt: skip
            assert row is not None, f"no statistics for FerretDB's table {table}"
            return int(row["r"]), int(row["u"])

        yield stats


async def rows_read_by(saves: Callable[[], Awaitable[None]], count: int, stats: Stats) -> int:
    """Rows sequentially scanned while ``saves()`` updated ``count`` documents."""
    read_before, updated_before = await stats()
    await saves()
    deadline = time.monotonic() + 30
    while (await stats())[1] < updated_before + count:
        assert time.monotonic() < deadline, "PostgreSQL never counted the updates"
        await asyncio.sleep(0.5)
    await asyncio.sleep(1)  # the reads of the last update's transaction, flushed with it
    return (await stats())[0] - read_before


async def test_save_by_key_replaces_the_whole_document_by_its_key(
    keyed: list[Keyed],
) -> None:
    chosen = keyed[7]
    chosen.value = -1
    await save_by_key(chosen)
    stored = await Keyed.find_one({"key": chosen.key})
    assert stored is not None
    assert (stored.value, stored.id) == (-1, chosen.id)
    assert await Keyed.find({"key": chosen.key}).count() == 1
    fresh = Keyed(value=12345)
    await save_by_key(fresh)  # not there: inserted, with its own _id
    assert (await Keyed.get(fresh.id)) is not None
    assert await Keyed.count() == ROWS + 1


async def test_two_first_writes_of_one_document_leave_one(keyed: list[Keyed]) -> None:
    twin = Keyed(value=1)
    outcomes = await asyncio.gather(
        save_by_key(twin), save_by_key(twin.model_copy(update={"value": 2})),
        return_exceptions=True,
    )  # fmt: skip
    assert all(o is None or isinstance(o, DuplicateKeyError) for o in outcomes), outcomes
    assert await Keyed.find({"key": twin.key}).count() == 1


async def test_save_by_key_does_not_read_the_table_where_save_by_uuid_does(
    keyed: list[Keyed], table_stats: Stats
) -> None:
    chosen = keyed[:5]

    async def by_key() -> None:
        for document in chosen:
            document.value += 1
            await save_by_key(document)

    async def by_uuid() -> None:
        for document in chosen:
            document.value += 1
            await document.save()

    read_by_key = await rows_read_by(by_key, len(chosen), table_stats)
    read_by_uuid = await rows_read_by(by_uuid, len(chosen), table_stats)
    # The control: the UUID _id makes FerretDB read every row for each save.
    assert read_by_uuid >= len(chosen) * ROWS, read_by_uuid
    assert read_by_key < ROWS, read_by_key
