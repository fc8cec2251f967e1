"""Fixtures that own their real services and reset state for each test.

Tests marked ``connected`` talk to the stack that ``make test`` starts
(``infra/stack.sh up``); each gets its own MongoDB database and its own
service names, and leaves no broker session behind.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from pymongo import AsyncMongoClient
from sqlalchemy.engine import make_url

from bus import BusSettings, Service
from bus._internal.broker import make_broker
from tests.spans import Spans, install


@pytest.fixture
def spans() -> Iterator[Spans]:
    """Every span this process finishes during the test (none are kept otherwise)."""
    recorder = install()
    recorder.start()
    try:
        yield recorder
    finally:
        recorder.stop()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names no other test uses: ``unique('journal')`` -> ``journal-3f2a9c``."""
    suffix = uuid.uuid4().hex[:8]
    return lambda prefix: f"{prefix}-{suffix}"


@pytest.fixture
async def settings() -> AsyncIterator[BusSettings]:
    """Stack settings with a fresh MongoDB database, dropped afterwards."""
    base = BusSettings()
    database = f"chorus_test_{uuid.uuid4().hex[:12]}"
    test_settings = base.model_copy(
        update={
            "mongo_url": _with_database(base.mongo_url, database),
            "session_expiry": 300,
            "dedup_ttl": 600,
            # Each test in a namespace of its own: services that ``make up`` runs on
            # the same broker (and other tests) never see its events, nor it theirs.
            "namespace": f"t{uuid.uuid4().hex[:10]}",
        }
    )
    yield test_settings
    client: AsyncMongoClient[Any] = AsyncMongoClient(base.mongo_url)
    try:
        await client.drop_database(database)
    finally:
        await client.close()


@pytest.fixture
async def services(settings: BusSettings) -> AsyncIterator[list[Service]]:
    """Services a test starts; stopped afterwards, their broker sessions discarded."""
    started: list[Service] = []
    yield started
    client_ids = set()
    for service in started:
        client_ids.add(service.client_id)
        await service.stop()
    for client_id in client_ids:
        # A clean start with no expiry makes the broker forget the persistent session.
        broker = make_broker(settings, client_id=client_id, reconnect=False)
        await broker.connect()
        await broker.stop()


@pytest.fixture
async def pg_settings(settings: BusSettings) -> AsyncIterator[BusSettings]:
    """``settings`` with a fresh PostgreSQL database of its own, dropped afterwards."""
    base = make_url(settings.postgres_url)
    database = f"chorus_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(
        host=base.host, port=base.port, user=base.username, password=base.password,
        database=base.database,
    )  # fmt: skip
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
        yield settings.model_copy(
            update={"postgres_url": base.set(database=database).render_as_string(False)}
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await admin.close()
