"""Bearer tokens: issued for a valid API key, kept in Redis until they expire."""

from __future__ import annotations

import hashlib
import json
import secrets

from redis.asyncio import Redis

from services.accounts import Identity

TOKEN_KEY = "chorus:gateway:token:{digest}"
"""Redis key of one token (by its SHA-256, so a Redis dump holds no usable token)."""


def _key(token: str) -> str:
    return TOKEN_KEY.format(digest=hashlib.sha256(token.encode()).hexdigest())


class TokenStore:
    """Issue and resolve bearer tokens."""

    def __init__(self, redis: Redis, ttl: int) -> None:
        self.redis, self.ttl = redis, ttl

    async def issue(self, identity: Identity) -> str:
        """A new token for ``identity``, valid for ``ttl`` seconds."""
        token = secrets.token_urlsafe(32)
        value = json.dumps({"user_id": identity.user_id, "email": identity.email})
        await self.redis.set(_key(token), value, ex=self.ttl)
        return token

    async def resolve(self, token: str) -> Identity | None:
        """Who holds ``token``; None if it is unknown or expired."""
        value = await self.redis.get(_key(token))
        if value is None:
            return None
        data = json.loads(value)
        return Identity(user_id=data["user_id"], email=data["email"])
