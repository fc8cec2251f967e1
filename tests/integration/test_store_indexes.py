"""FerretDB's tables on PostgreSQL get GIN indexes on the fields looked up by equality, so
those lookups do not read the whole table (infra/stack.sh ``index_ferretdb``)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from pymongo import AsyncMongoClient

from bus import BusSettings
from tests.ferretdb import backend


async def test_a_new_collection_gets_gin_indexes_that_serve_ferretdbs_equalities(
    settings: BusSettings,
) -> None:
    database = urlsplit(settings.mongo_url).path.strip("/")
    collection = f"indexed_{uuid.uuid4().hex[:8]}"
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(settings.mongo_url)
    await mongo[database][collection].insert_many([{"key": str(n)} for n in range(500)])
    try:
        async with backend(settings) as ferretdb:
            pg = ferretdb.pg
            table = await ferretdb.table(collection)
            assert table, "FerretDB created a table for the collection"
            indexes = await pg.fetch(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2",
                database, table,
            )  # fmt: skip
            definitions = [i["indexdef"] for i in indexes]
            assert any("gin" in d and "'key'" in d and "jsonb_path_ops" in d for d in definitions)
            await pg.execute("SET enable_seqscan = off")  # 500 rows: make the planner show it can
            plan = await pg.fetch(
                f'EXPLAIN SELECT _jsonb FROM "{database}"."{table}"'
                " WHERE _jsonb->'key' @> '\"7\"'"  # the form FerretDB 1.24 sends
            )
            assert "chorus_gin_" in "\n".join(row[0] for row in plan)
    finally:
        await mongo[database].drop_collection(collection)
        await mongo.close()
