"""FerretDB on the stack's PostgreSQL (infra/stack.sh), on a stack of the test's own.

A private stack (its own folder, ports and credentials folder, so that nothing of the
developer's stack is touched) that was made when FerretDB ran on SQLite: ``up`` moves
FerretDB to its PostgreSQL backend, copies the old data into it, keeps logins required,
and a second ``up`` changes nothing. The stack is stopped and deleted whatever happens.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from bson import Binary
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.errors import OperationFailure

from bus.mongo import connect_mongo, release_mongo
from services.catalog import CatalogEntry, LoggedEvent
from services.catalog.history import log_filter
from services.catalog.queries import entry_filter

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "infra" / "stack.sh"
FERRETDB = Path(
    os.environ.get("CHORUS_FERRETDB_BIN")
    or Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local/share")
    / "chorus/bin/ferretdb-v1.24.2"
)  # as infra/stack.sh's FERRETDB_BIN

pytestmark = pytest.mark.connected


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Stack:
    """``infra/stack.sh`` on a folder, ports and credentials folder of its own."""

    def __init__(self, root: Path) -> None:
        self.root, self.credentials = root / "stack", root / "credentials"
        self.ports = {"POSTGRES_PORT": free_port(), "MONGO_PORT": free_port()}

    def env(self) -> dict[str, str]:
        return dict(
            os.environ, CHORUS_STACK_DIR=str(self.root),
            BUS_CREDENTIALS_DIR=str(self.credentials),
            **{name: str(port) for name, port in self.ports.items()},
        )  # fmt: skip

    def run(self, *args: str) -> str:
        done = subprocess.run(
            ["bash", str(STACK), *args], env=self.env(), capture_output=True, text=True,
            check=False, timeout=110,
        )  # fmt: skip
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"stack.sh {' '.join(args)} failed:\n{output}"
        return output

    def login(self, name: str) -> dict[str, str]:
        secrets = ROOT / "infra" / "stack_secrets.py"
        subprocess.run(["python3", str(secrets), "login", name], env=self.env(), check=True)
        stored: dict[str, str] = json.loads((self.credentials / f"{name}.json").read_text())
        return stored

    def client(self, password: str | None = None, **options: Any) -> MongoClient[dict[str, Any]]:
        port = self.ports["MONGO_PORT"]
        if password is None:
            return MongoClient("127.0.0.1", port, serverSelectionTimeoutMS=5000, **options)
        return MongoClient(
            "127.0.0.1", port, username="chorus", password=password, authSource="admin",
            authMechanism="SCRAM-SHA-256", serverSelectionTimeoutMS=5000, **options,
        )  # fmt: skip


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    made = Stack(tmp_path)
    yield made
    # reset: down, and delete the data, which may live outside tmp_path (PostgreSQL's
    # cluster goes to the postgres user's home when it cannot reach tmp_path).
    subprocess.run(["bash", str(STACK), "reset"], env=made.env(), capture_output=True, check=False)


def seed_sqlite(stack: Stack, password: str) -> list[dict[str, Any]]:
    """What an older stack kept: FerretDB on SQLite in data/ferretdb/sqlite, with the
    user chorus, a collection with two indexes and one in another database."""
    data = stack.root / "data" / "ferretdb"
    (data / "sqlite").mkdir(parents=True)
    port = free_port()
    server = subprocess.Popen(
        [str(FERRETDB), "--handler=sqlite", f"--sqlite-url=file:{data}/sqlite/",
         f"--listen-addr=127.0.0.1:{port}", f"--state-dir={data}", "--telemetry=disable",
         "--debug-addr=-", "--test-enable-new-auth", "--setup-database=admin",
         "--setup-username=chorus"],
        env=dict(os.environ, FERRETDB_SETUP_PASSWORD=password),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    documents = [
        {"_id": str(uuid.uuid4()), "type": f"t{n % 3}", "n": n, "recorded_at": now,
         "envelope": {"data": {"list": [1, 2.5, "x"], "nested": {"ok": True}}}}
        for n in range(1200)
    ]  # fmt: skip
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(
            "127.0.0.1", port, username="chorus", password=password, authSource="admin",
            authMechanism="SCRAM-SHA-256", serverSelectionTimeoutMS=20000,
        )  # fmt: skip
        with client:
            journal = client["chorus_old"]["journal"]
            journal.create_index([("type", ASCENDING), ("recorded_at", DESCENDING)])
            journal.insert_many(documents)
            client["chorus_other"]["things"].insert_one({"_id": 1, "kept": "yes"})
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    return documents


async def test_up_moves_an_sqlite_stack_to_postgresql_with_its_data(stack: Stack) -> None:
    password = stack.login("mongo")["password"]
    documents = seed_sqlite(stack, password)

    output = stack.run("up", "postgres", "ferretdb")

    assert "1201 document(s) of 2 collection(s) copied" in output
    conf = (stack.root / "run" / "ferretdb.conf").read_text()
    assert "--handler=postgresql" in conf
    assert "--test-enable-new-auth" in conf
    assert not (stack.root / "data" / "ferretdb" / "sqlite").exists()
    assert list((stack.root / "data" / "ferretdb").glob("sqlite.migrated-*"))
    with stack.client(password) as client:
        journal = client["chorus_old"]["journal"]
        assert journal.count_documents({}) == len(documents)
        assert journal.find_one({"n": 7}) == documents[7]
        assert "type_1_recorded_at_-1" in journal.index_information()
        assert client["chorus_other"]["things"].find_one({"_id": 1}) == {"_id": 1, "kept": "yes"}
    # The documents are in PostgreSQL: FerretDB's database, one schema per MongoDB database.
    role = stack.login("postgres-ferretdb")
    pg = await asyncpg.connect(
        host="127.0.0.1", port=stack.ports["POSTGRES_PORT"], database="ferretdb",
        user=role["username"], password=role["password"],
    )  # fmt: skip
    try:
        schemas = {row[0] for row in await pg.fetch("select nspname from pg_namespace")}
    finally:
        await pg.close()
    assert {"admin", "chorus_old", "chorus_other"} <= schemas

    again = stack.run("up", "postgres", "ferretdb")
    assert "ferretdb  127.0.0.1" in again
    assert "already running" in again
    assert "copying" not in again
    assert "restarting" not in again


async def test_the_postgresql_backend_refuses_a_client_without_the_login(stack: Stack) -> None:
    stack.run("up", "postgres", "ferretdb")
    password = stack.login("mongo")["password"]
    with stack.client() as anonymous, pytest.raises(OperationFailure, match="requires auth"):
        anonymous["chorus"]["probe"].insert_one({"x": 1})
    with stack.client("wrong") as wrong, pytest.raises(OperationFailure, match="Authentication"):
        wrong["chorus"]["probe"].insert_one({"x": 1})
    with stack.client(password) as client:
        client["chorus"]["probe"].insert_one({"x": 1})
    # The app's PostgreSQL role cannot reach FerretDB's database behind its back.
    app = stack.login("postgres")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="CONNECT privilege"):
        await asyncpg.connect(
            host="127.0.0.1", port=stack.ports["POSTGRES_PORT"], database="ferretdb",
            user=app["username"], password=app["password"],
        )  # fmt: skip
    # rotate mongo changes the user's password in place.
    stack.run("rotate", "mongo")
    rotated = stack.login("mongo")["password"]
    assert rotated != password
    with stack.client(rotated) as client:
        assert client["chorus"]["probe"].count_documents({}) == 1


async def test_the_catalogs_lookups_are_filtered_by_postgresql(stack: Stack) -> None:
    # FerretDB 1.24 hands PostgreSQL plain equalities on strings (explain:
    # filterPushdown); anything else it filters itself, after reading the collection.
    stack.run("up", "postgres", "ferretdb")
    password = stack.login("mongo")["password"]
    url = f"mongodb://chorus:{password}@127.0.0.1:{stack.ports['MONGO_PORT']}/chorus_catalog"
    client = await connect_mongo(f"{url}?authSource=admin", [CatalogEntry, LoggedEvent])
    try:
        database = client.get_default_database()
        document_id = uuid.uuid4()

        async def pushed_down(collection: str, where: dict[str, Any]) -> bool:
            found = await database.command("explain", {"find": collection, "filter": where})
            return bool(found["filterPushdown"])

        assert await pushed_down("catalog_events", log_filter(document_id))
        assert await pushed_down("catalog", entry_filter(document_id))
        assert await pushed_down("catalog", entry_filter(document_id, "alice"))
        assert await pushed_down("catalog", {"owner": "alice"})  # list_documents
        # What the lookups by key avoid: an _id that is a UUID is filtered by FerretDB.
        by_uuid = {"_id": Binary.from_uuid(document_id)}
        assert not await pushed_down("catalog", by_uuid)
    finally:
        await release_mongo(f"{url}?authSource=admin")
