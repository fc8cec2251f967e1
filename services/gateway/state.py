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
        value = json.dumps({"owner": owner, "filename": filename})
        key = UPLOAD_KEY.format(document_id=document_id)
        await self.redis.set(key, value, ex=self.config.upload_record_ttl)

    async def forget_upload(self, document_id: UUID) -> None:
        await self.redis.delete(UPLOAD_KEY.format(document_id=document_id))

    async def pending_upload(self, document_id: UUID, owner: str) -> str | None:
        """The file name of ``owner``'s accepted upload the catalog has not recorded yet."""
        value = await self.redis.get(UPLOAD_KEY.format(document_id=document_id))
        if value is None:
            return None
        data = json.loads(value)
        return str(data["filename"]) if data["owner"] == owner else None
