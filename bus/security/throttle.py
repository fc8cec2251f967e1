"""How often something may be tried: fixed windows of attempts in Redis.

An attempt counts against several windows at once (per client, per key prefix, per user
name...), each with its own limit. The check and the count are one Lua script, one round
trip: no two processes, and no two requests, can both take the last attempt of a window.
A refused attempt is not counted, so a window ends when it says it will. An attempt that
turns out fine may be given back (:meth:`Attempts.give_back`): then only failures count.

The gateway limits API keys with it (``services.gateway.api.throttle``), the console its
logins (``bus.tools.console.throttle``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from redis.asyncio import Redis

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

# KEYS: the counters an attempt was counted in. Each goes down by one, never below zero,
# and keeps its window (a counter whose window ended meanwhile is not created again).
_GIVE_BACK = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0
"""


class Attempts:
    """Counts attempts in fixed windows and says when one must wait.

    Args:
        redis: Where the windows are kept.
    """

    def __init__(self, redis: Redis) -> None:
        self._attempt = redis.register_script(_ATTEMPT)
        self._give_back = redis.register_script(_GIVE_BACK)

    async def attempt(self, limits: Sequence[tuple[str, int]], window: float) -> int:
        """Count one attempt in each ``(key, limit)`` window of ``window`` seconds; 0 if
        it may go on, or the seconds to wait (the Retry-After) if one window is full (then
        nothing is counted)."""
        keys = [key for key, _ in limits]
        args = [round(window * 1000), *(limit for _, limit in limits)]
        wait_ms = int(await self._attempt(keys=keys, args=args))
        return math.ceil(wait_ms / 1000) if wait_ms > 0 else 0

    async def give_back(self, keys: Iterable[str]) -> None:
        """Uncount an attempt that :meth:`attempt` counted in ``keys`` (it succeeded)."""
        await self._give_back(keys=list(keys), args=[])
