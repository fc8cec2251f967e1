"""How often API keys may be tried: per client and per key prefix, in Redis.

Each attempt at ``POST /auth/token`` counts against two fixed windows: its client's (the
IP address uvicorn reports) and its key's prefix (the characters ``accounts`` keeps in the
clear to tell keys apart: what someone guessing one known key's rest shares, from any
number of addresses). The check and the count are one round trip
(:class:`bus.security.throttle.Attempts`, which the console's logins share): no two
gateways, and no two requests, can both take the last attempt of a window. A refused
attempt is not counted, so a window ends when it says it will.

The key prefix's window is also its owner's: someone hammering a known prefix keeps its
owner out until the window ends (at most ``window`` seconds at a time).
"""

from __future__ import annotations

import hashlib
from typing import Final

from redis.asyncio import Redis

from bus.security.throttle import Attempts
from services.gateway.config import GatewaySettings

CLIENT_KEY: Final = "chorus:gateway:attempts:{scope}:client:{client}"
"""Attempts at /auth/token by one client address in the current window."""

PREFIX_KEY: Final = "chorus:gateway:attempts:{scope}:key:{digest}"
"""Attempts with API keys of one prefix in the current window (by the prefix's SHA-256)."""

PREFIX_LENGTH: Final = len("chorus_") + 6
"""Leading characters of a key that count as its prefix (those ``accounts`` shows)."""


class KeyAttempts:
    """Counts API-key attempts and says when one must wait.

    Args:
        redis: Where the windows are kept.
        scope: Whose windows: the gateway's name in its namespace (``make test`` never
            shares a window with what ``make up`` runs).
        config: The limits (``GATEWAY_TOKEN_ATTEMPTS_PER_CLIENT``, ``..._PER_KEY_PREFIX``,
            ``GATEWAY_TOKEN_ATTEMPT_WINDOW``).
    """

    def __init__(self, redis: Redis, scope: str, config: GatewaySettings) -> None:
        self.scope, self.config = scope, config
        self._attempts = Attempts(redis)

    async def attempt(self, client: str, api_key: str) -> int:
        """Count an attempt with ``api_key`` from ``client``; 0 if it may go on, or the
        seconds to wait (the Retry-After) if it may not."""
        digest = hashlib.sha256(api_key[:PREFIX_LENGTH].encode()).hexdigest()
        config = self.config
        limits = [
            (CLIENT_KEY.format(scope=self.scope, client=client), config.token_attempts_per_client),
            (PREFIX_KEY.format(scope=self.scope, digest=digest),
             config.token_attempts_per_key_prefix),
        ]  # fmt: skip
        return await self._attempts.attempt(limits, config.token_attempt_window)
