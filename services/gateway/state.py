"""What the routes share: the bus service, storage, tokens, and the owners' read models."""

from __future__ import annotations

import json
from dataclasses import dataclass
from uuid import UUID

from redis.asyncio import Redis

from bus import Service
from services.accounts import AccountsReader
from services.gateway.config import GatewaySettings
from services.gateway.tokens import TokenStore
from services.storage import BlobStorage

UPLOAD_KEY = "chorus:gateway:upload:{document_id}"
"""An accepted upload's owner and name, until the catalog has caught up with it."""

BLOB_KEY = "chorus:gateway:blob:{document_id}"
"""The storage URL of the bytes the gateway stored for a document, until it deletes them:
an event asks it to delete bytes, and this says which ones are its to delete (no expiry)."""


async def stored_blob(redis: Redis, document_id: UUID) -> str | None:
    """The URL of the bytes the gateway stored for ``document_id`` and has not deleted."""
    value = await redis.get(BLOB_KEY.format(document_id=document_id))
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


async def forget_blob(redis: Redis, document_id: UUID) -> None:
    """The bytes of ``document_id`` are deleted: nothing of it is the gateway's to delete."""
    await redis.delete(BLOB_KEY.format(document_id=document_id))


@dataclass
class Gateway:
    """One gateway process's dependencies, built when the service starts."""

    service: Service
    config: GatewaySettings
    storage: BlobStorage
    redis: Redis
    tokens: TokenStore
    accounts: AccountsReader

    async def remember_upload(self, document_id: UUID, owner: str, filename: str) -> None:
        """Record an upload whose bytes are stored (where storage keeps the document's)."""
        upload = UPLOAD_KEY.format(document_id=document_id)
        value = json.dumps({"owner": owner, "filename": filename})
        async with self.redis.pipeline(transaction=True) as both:
            both.set(upload, value, ex=self.config.upload_record_ttl)
            both.set(BLOB_KEY.format(document_id=document_id), self.storage.url_for(document_id))
            await both.execute()

    async def forget_upload(self, document_id: UUID) -> None:
        await self.redis.delete(
            UPLOAD_KEY.format(document_id=document_id), BLOB_KEY.format(document_id=document_id)
        )

    async def pending_upload(self, document_id: UUID, owner: str) -> str | None:
        """The file name of ``owner``'s accepted upload the catalog has not recorded yet."""
        value = await self.redis.get(UPLOAD_KEY.format(document_id=document_id))
        if value is None:
            return None
        data = json.loads(value)
        return str(data["filename"]) if data["owner"] == owner else None
