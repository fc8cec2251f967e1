"""The test tiers, and fixtures that own their real services and reset state for each test.

A test's folder is its tier (``TIERS``): the markers are set here, nowhere else.
Tests marked ``connected`` talk to the stack that ``make test`` starts
(``infra/stack.sh up``); each gets its own MongoDB database and its own
service names, and leaves no broker session behind.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from pymongo import AsyncMongoClient
from sqlalchemy.engine import make_url

from bus import BusSettings, Service
from bus._internal.broker import make_broker
from bus._internal.mqtt import connected_client
from bus.security import DYNSEC_ADMIN, OPS, CredentialStore
from bus.security.dynsec import DynSec
from tests.spans import Spans, install

TIERS: dict[str, tuple[str, ...]] = {
    "unit": (),  # in memory, no server
    "integration": ("connected",),  # the real stack, one part at a time
    "system": ("connected",),  # the whole reference system, end to end
    "faults": ("connected", "faults"),  # kill and restart servers of their own
    "browser": ("connected",),  # the console in a real headless Chromium
}
"""Each folder under tests/ and the markers its tests get."""

SERVER_MARKERS = {"connected", "faults"}


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by these markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its folder's tier; refuse a test outside the tiers, and a
    unit test that asks for servers."""
    here = Path(__file__).parent
    for item in items:
        if not item.path.is_relative_to(here):
            continue  # collected from elsewhere in the same run: not ours to mark
        parts = item.path.relative_to(here).parts
        markers = TIERS.get(parts[0]) if len(parts) > 1 else None
        if markers is None:
            folders = ", ".join(f"tests/{folder}" for folder in TIERS)
            raise pytest.UsageError(f"{item.nodeid}: a test lives in one of {folders}")
        asked = {mark.name for mark in item.iter_markers()} & SERVER_MARKERS
        if not markers and asked:
            raise pytest.UsageError(
                f"{item.nodeid} is marked {', '.join(sorted(asked))}: a test that needs "
                "servers goes in tests/integration"
            )
        for marker in markers:
            item.add_marker(marker)


@pytest.fixture(autouse=True)
def _root_logging_kept() -> Iterator[None]:
    """A command a test runs in this process (typer's ``CliRunner``) points the root
    logger at the runner's output, which is closed once the command returns: put the
    handlers back, or every later log line fails with "I/O operation on closed file"."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


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


@pytest.fixture
async def credentials(tmp_path: Path, settings: BusSettings) -> AsyncIterator[Path]:
    """A credentials folder of the test's own, with the stack's ops and dynsec-admin, for
    processes the test starts (``BUS_CREDENTIALS_DIR``): what ``make up`` creates in it
    for the test's namespace is removed afterwards, from the folder and from the broker."""
    folder = tmp_path / "credentials"
    folder.mkdir(mode=0o700)
    for name in (OPS, DYNSEC_ADMIN):
        shutil.copy(settings.credentials_dir / f"{name}.json", folder / f"{name}.json")
    yield folder
    admin = CredentialStore(settings.credentials_dir).identity(DYNSEC_ADMIN)
    prefix = f"{settings.namespace}."
    async with connected_client(settings, credential=admin) as client:
        dynsec = DynSec(client)
        mine = [u for u in await dynsec.usernames() if u.startswith(prefix)]
        await dynsec.run(*({"command": "deleteClient", "username": u} for u in mine))
        for service in CredentialStore(folder).service_names():
            await dynsec.run({"command": "deleteRole", "rolename": f"service:{service}"})


_summaries: list[str] = []


@pytest.fixture
def report() -> Iterator[list[str]]:
    """Lines a test adds here are printed in the run's closing summary (fault and
    security tests: what was tried, what was lost or refused)."""
    lines: list[str] = []
    yield lines
    _summaries.extend(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _summaries:
        terminalreporter.section("fault and security tests")
        for line in _summaries:
            terminalreporter.write_line(line)
