"""The accounts service's PostgreSQL: engine, tables and sessions (SQLModel over asyncpg)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Table, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.models import ApiKey, Quota, UsageEntry, User

TABLES: list[Table] = [
    SQLModel.metadata.tables[str(model.__tablename__)]
    for model in (User, ApiKey, Quota, UsageEntry)
]
"""The tables this service owns (SQLModel's metadata is shared with any other service)."""

_SCHEMA_LOCK = 0x43686F7275730001
"""The advisory lock that serialises table creation between processes starting together."""


def create_engine(postgres_url: str, *, pool_size: int = 5) -> AsyncEngine:
    """An async engine on ``postgres_url`` (``postgresql+asyncpg://…``; a plain
    ``postgresql://`` URL gets the asyncpg driver)."""
    url = make_url(postgres_url)
    if url.drivername in {"postgresql", "postgres"}:
        url = url.set(drivername="postgresql+asyncpg")
    return create_async_engine(url, pool_size=pool_size, pool_pre_ping=True)


async def create_tables(engine: AsyncEngine) -> None:
    """Create the accounts tables that do not exist yet; safe to run from many processes.

    A real deployment would evolve the schema with Alembic migrations instead;
    ``create_all`` only adds missing tables and never alters an existing one.
    """
    async with engine.begin() as connection:
        # Two replicas starting at once would both see a table missing and both create it.
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        await connection.run_sync(SQLModel.metadata.create_all, tables=TABLES)


def session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on ``engine`` whose objects stay readable after a commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def open_database(
    postgres_url: str, *, pool_size: int = 5, create: bool = True
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """An engine for the block (tables created first if ``create``), disposed after it.

    Example::

        async with open_database(settings.postgres_url) as sessions:
            async with sessions() as session:
                outcome = await reserve(session, owner=..., document_id=..., size_bytes=...)
    """
    engine = create_engine(postgres_url, pool_size=pool_size)
    try:
        if create:
            await create_tables(engine)
        yield session_maker(engine)
    finally:
        await engine.dispose()


def redacted(postgres_url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(postgres_url).render_as_string(hide_password=True)
