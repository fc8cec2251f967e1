"""How often API keys may be tried: per client and per key prefix, in Redis.

Each attempt at ``POST /auth/token`` counts against two fixed windows: its client's (the
IP address uvicorn reports) and its key's prefix (the characters ``accounts`` keeps in the
clear to tell keys apart: what someone guessing one known key's rest shares, from any
number of addresses). The check and the count are one Lua script, one round trip: no
two gateways, and no two requests, can both take the last attempt of a window. A refused
attempt is not counted, so a window ends when it says it will.

The key prefix's window is also its owner's: someone hammering a known prefix keeps its
owner out until the window ends (at most ``window`` seconds at a time).
"""

from __future__ import annotations

import hashlib
import math
from typing import Final

from redis.asyncio import Redis

from services.gateway.config import GatewaySettings

CLIENT_KEY: Final = "chorus:gateway:attempts:{scope}:client:{client}"
"""Attempts at /auth/token by one client address in the current window."""

PREFIX_KEY: Final = "chorus:gateway:attempts:{scope}:key:{digest}"
"""Attempts with API keys of one prefix in the current window (by the prefix's SHA-256)."""

PREFIX_LENGTH: Final = len("chorus_") + 6
"""Leading characters of a key that count as its prefix (those ``accounts`` shows)."""

# KEYS: the counters; ARGV[1]: the window in ms; ARGV[1 + i]: KEYS[i]'s limit.
# Returns 0 and counts the attempt, or the ms until the fullest counter's window ends.
_ATTEMPT = """
local wait = 0
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, ARGV[1])
      ttl = tonumber(ARGV[1])
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0
"""


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
        self._attempt = redis.register_script(_ATTEMPT)

    async def attempt(self, client: str, api_key: str) -> int:
        """Count an attempt with ``api_key`` from ``client``; 0 if it may go on, or the
        seconds to wait (the Retry-After) if it may not."""
        digest = hashlib.sha256(api_key[:PREFIX_LENGTH].encode()).hexdigest()
        keys = [
            CLIENT_KEY.format(scope=self.scope, client=client),
            PREFIX_KEY.format(scope=self.scope, digest=digest),
        ]
        config = self.config
        args = [
            config.token_attempt_window * 1000,
            config.token_attempts_per_client,
            config.token_attempts_per_key_prefix,
        ]
        wait_ms = int(await self._attempt(keys=keys, args=args))
        return math.ceil(wait_ms / 1000) if wait_ms > 0 else 0
