"""FerretDB's PostgreSQL backend as PostgreSQL sees it: for tests and the bench that check
what FerretDB does underneath (indexes, rows read, vacuuming)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg

from bus import BusSettings

LOGIN_FILE = "postgres-ferretdb.json"
"""FerretDB's PostgreSQL login, in the credentials directory (``infra/stack_secrets.py``)."""


@dataclass(frozen=True)
class Backend:
    """A connection to FerretDB's PostgreSQL database, and the schema of one MongoDB
    database (FerretDB keeps each MongoDB database in a schema of its name)."""

    pg: asyncpg.Connection
    schema: str

    async def table(self, collection: str) -> str | None:
        """The table FerretDB keeps ``collection`` in; None if it has none yet."""
        table: str | None = await self.pg.fetchval(
            f"SELECT _jsonb->>'table' FROM \"{self.schema}\"._ferretdb_database_metadata"
            " WHERE _jsonb->>'_id' = $1",
            collection,
        )
        return table


def on_postgresql(settings: BusSettings) -> bool:
    """Whether the stack's FerretDB runs on its PostgreSQL (it has that login)."""
    return (settings.credentials_dir / LOGIN_FILE).exists()


@asynccontextmanager
async def backend(settings: BusSettings) -> AsyncIterator[Backend]:
    """FerretDB's PostgreSQL, for the database ``settings.mongo_url`` names."""
    login = json.loads((settings.credentials_dir / LOGIN_FILE).read_text())
    pg = await asyncpg.connect(
        host="127.0.0.1", port=urlsplit(settings.postgres_url).port or 5432,
        user=login["username"], password=login["password"], database="ferretdb",
    )  # fmt: skip
    try:
        yield Backend(pg, urlsplit(settings.mongo_url).path.strip("/"))
    finally:
        await pg.close()
