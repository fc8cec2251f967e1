"""Redis, PostgreSQL and the MongoDB-compatible server take only the logins the local
stack generated (infra/stack_secrets.py); BusSettings finds them with no extra step."""

import stat
from typing import Any

import asyncpg
import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError
from sqlalchemy.engine import make_url

from bus import BusSettings


async def test_redis_refuses_a_command_without_a_login(settings: BusSettings) -> None:
    url = make_url(settings.redis_url)  # same syntax: scheme://user:password@host:port/db
    assert url.username, "the default redis_url carries the generated login"
    assert url.password
    anonymous = Redis(host=url.host or "localhost", port=url.port or 6379)
    wrong = Redis(
        host=url.host or "localhost", port=url.port or 6379, username=url.username,
        password="wrong",
    )  # fmt: skip
    try:
        with pytest.raises(AuthenticationError, match="Authentication required"):  # NOAUTH
            await anonymous.set("chorus:probe", "x")
        with pytest.raises(AuthenticationError):  # WRONGPASS
            await wrong.ping()
    finally:
        await anonymous.aclose()
        await wrong.aclose()
    logged_in = Redis.from_url(settings.redis_url)
    try:
        assert await logged_in.ping()
    finally:
        await logged_in.aclose()


async def test_postgres_refuses_the_old_default_password(settings: BusSettings) -> None:
    url = make_url(settings.postgres_url)
    assert url.username == "chorus"
    assert url.password not in {None, "", "chorus"}
    where = {"host": url.host, "port": url.port, "database": url.database}
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(user="chorus", password="chorus", **where)
    connection = await asyncpg.connect(user=url.username, password=url.password, **where)
    try:
        assert await connection.fetchval("select 1") == 1
    finally:
        await connection.close()


async def test_the_mongodb_server_refuses_a_client_without_a_login(settings: BusSettings) -> None:
    url = make_url(settings.mongo_url)
    assert url.username, "the default mongo_url carries the generated login"
    assert url.password
    database = url.database or "chorus"
    anonymous: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        f"mongodb://{url.host}:{url.port}/", serverSelectionTimeoutMS=5000
    )
    wrong: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        f"mongodb://{url.username}:wrong@{url.host}:{url.port}/?authSource=admin",
        serverSelectionTimeoutMS=5000,
    )
    try:
        with pytest.raises(OperationFailure, match="requires authentication"):
            await anonymous[database]["probe"].insert_one({"x": 1})
        with pytest.raises(OperationFailure, match="Authentication failed"):
            await wrong[database]["probe"].insert_one({"x": 1})
    finally:
        await anonymous.close()
        await wrong.close()
    logged_in: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_url)
    try:
        await logged_in.get_default_database()["probe"].insert_one({"x": 1})
    finally:
        await logged_in.close()


def test_the_generated_secrets_are_owner_only(settings: BusSettings) -> None:
    folder = settings.credentials_dir
    names = ("redis", "postgres", "postgres-ferretdb", "mongo")
    secrets = [folder / f"{name}.json" for name in names]
    secrets += [folder / "tls" / name for name in ("ca.key", "server.key")]
    for path in [folder, folder / "tls", *secrets]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}: others may read it"
