#!/usr/bin/env python3
"""Copy every database of one FerretDB (or MongoDB) into another, as they are.

    .venv/bin/python infra/ferretdb_migrate.py SOURCE_PORT TARGET_PORT

``infra/stack.sh up`` runs it once, when a stack made before FerretDB moved to its
PostgreSQL backend still has data in ``.stack/data/ferretdb/sqlite``: the old data is
served by a temporary SQLite FerretDB on SOURCE_PORT, and copied into the new one on
TARGET_PORT. Both take the user in ``mongo.json`` (its password in CHORUS_MONGO_PASSWORD).

Documents are copied as raw BSON (nothing is decoded and encoded again), with each
collection's indexes and options; ``system.*`` collections are not (users are the
servers' own: the target made ``chorus`` at its first start). A copy that stopped
half-way can simply run again: documents already there are left as they are. Exits
non-zero, saying why, when anything was not copied.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any

from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import IndexModel, MongoClient
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, CollectionInvalid, PyMongoError

BATCH = 500
DUPLICATE_KEY = 11000
RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)


def client(port: int, password: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(
        "127.0.0.1", port, username="chorus", password=password, authSource="admin",
        authMechanism="SCRAM-SHA-256", serverSelectionTimeoutMS=5000,
    )  # fmt: skip


def wait_until_up(server: MongoClient[dict[str, Any]], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            server.admin.command("ping")
            return
        except PyMongoError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def copy_collection(
    source: MongoClient[dict[str, Any]], target: MongoClient[dict[str, Any]], db: str, name: str
) -> tuple[int, int]:
    """Copy one collection; returns (documents in the source, documents in the target)."""
    info = next(iter(source[db].list_collections(filter={"name": name})), {})
    options = {k: v for k, v in info.get("options", {}).items() if k in ("capped", "size", "max")}
    with contextlib.suppress(CollectionInvalid):  # there already: an earlier run stopped
        target[db].create_collection(name, **options)
    indexes = [
        IndexModel(
            list(index["key"].items()),
            name=index["name"],
            **{k: index[k] for k in ("unique", "expireAfterSeconds", "sparse") if k in index},
        )
        for index in source[db][name].list_indexes()
        if index["name"] != "_id_"
    ]
    if indexes:
        target[db][name].create_indexes(indexes)
    into: Collection[Any] = target[db].get_collection(name, codec_options=RAW)
    batch: list[RawBSONDocument] = []

    def flush() -> None:
        try:
            into.insert_many(batch, ordered=False)
        except BulkWriteError as error:
            if any(e.get("code") != DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
                raise
        batch.clear()

    raw: Collection[Any] = source[db].get_collection(name, codec_options=RAW)
    for document in raw.find():
        batch.append(document)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return source[db][name].count_documents({}), target[db][name].count_documents({})


def migrate(source_port: int, target_port: int, password: str) -> int:
    source, target = client(source_port, password), client(target_port, password)
    with source, target:
        wait_until_up(source)
        wait_until_up(target)
        others = [
            user["user"]
            for user in source.admin.command("usersInfo").get("users", [])
            if user["user"] != "chorus"
        ]
        if others:
            print(f"ferretdb-migrate: not copied, make them again: users {', '.join(others)}")
        missing, copied, collections = [], 0, 0
        for db in sorted(source.list_database_names()):
            for name in sorted(source[db].list_collection_names()):
                if name.startswith("system."):
                    continue
                have, now = copy_collection(source, target, db, name)
                collections += 1
                copied += have
                if now < have:
                    missing.append(f"{db}.{name}: {have} in the old store, {now} copied")
        print(f"ferretdb-migrate: {copied} document(s) of {collections} collection(s) copied")
        if missing:
            print("ferretdb-migrate: incomplete: " + "; ".join(missing), file=sys.stderr)
            return 1
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not all(a.isdigit() for a in argv):
        print(__doc__, file=sys.stderr)
        return 2
    password = os.environ.get("CHORUS_MONGO_PASSWORD")
    if not password:
        print("ferretdb-migrate: CHORUS_MONGO_PASSWORD is not set", file=sys.stderr)
        return 2
    try:
        return migrate(int(argv[0]), int(argv[1]), password)
    except PyMongoError as error:
        print(f"ferretdb-migrate: failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
