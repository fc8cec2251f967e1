"""A replica's stores: Redis (dedup records, arq jobs) and the MongoDB-compatible server
(dead letters, the journal, the service's own documents)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arq.connections import ArqRedis, RedisSettings, create_pool

from bus.deadletters import StoredDeadLetter
from bus.jobs.queue import json_deserializer, json_serializer
from bus.journal import JournalEntry
from bus.mongo import connect_mongo, release_mongo

if TYPE_CHECKING:
    from beanie import Document
    from pymongo import AsyncMongoClient

    from bus.settings import BusSettings


@dataclass
class Stores:
    """Open connections to a replica's stores; :meth:`close` lets go of them.

    Attributes:
        redis: An arq pool (a Redis client that also enqueues jobs).
        mongo: The MongoDB client, shared per URL within the process.
        mongo_url: Where ``mongo`` points (its path names the database).
    """

    redis: ArqRedis
    mongo: AsyncMongoClient[Any]
    mongo_url: str

    @classmethod
    async def open(cls, settings: BusSettings, documents: Sequence[type[Document]]) -> Stores:
        """Connect to Redis and MongoDB and initialise the bus's documents and ``documents``."""
        redis = await create_pool(
            RedisSettings.from_dsn(settings.redis_url),
            job_serializer=json_serializer,
            job_deserializer=json_deserializer,
        )
        try:
            mongo = await connect_mongo(
                settings.mongo_url, [StoredDeadLetter, JournalEntry, *documents]
            )
        except BaseException:
            await redis.aclose()
            raise
        return cls(redis, mongo, settings.mongo_url)

    async def close(self) -> None:
        await self.redis.aclose()
        await release_mongo(self.mongo_url)
