"""How often logins may fail: per client address and per user name, in Redis.

Each login counts against two fixed windows (:class:`bus.security.throttle.Attempts`,
which the gateway's API keys share): its client's (the address uvicorn reports) and its
user name's (from any number of addresses). A login that succeeds is given back, so only
failures fill a window. Past either limit every login is refused with 429 and
``Retry-After`` until the window ends, even with the right password: guessing goes no
faster for knowing when it guessed right.

The user name's window is also its owner's: someone hammering ``ops`` keeps the real
operator out until the window ends (at most :attr:`LoginLimits.window` at a time); the
per-address limit keeps one address from trying many names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis

from bus.security.throttle import Attempts

CLIENT_KEY: Final = "chorus:console:logins:{scope}:client:{client}"
"""Logins from one client address in the current window."""

USER_KEY: Final = "chorus:console:logins:{scope}:user:{digest}"
"""Logins as one user name in the current window (by the name's SHA-256: any text may be
typed there)."""


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """Failed logins allowed per window."""

    per_user: int = 5
    per_client: int = 20
    window: float = 300.0
    """Seconds."""


class LoginAttempts:
    """Counts logins and says when one must wait.

    Args:
        redis: Where the windows are kept.
        scope: Whose windows: the console's name in its namespace (a test's console never
            shares a window with the one ``make up`` runs).
        limits: How many failures, over how long.
    """

    def __init__(self, redis: Redis, scope: str, limits: LoginLimits) -> None:
        self.scope, self.limits = scope, limits
        self._attempts = Attempts(redis)

    def _keys(self, client: str, username: str) -> list[str]:
        digest = hashlib.sha256(username.encode()).hexdigest()
        return [
            CLIENT_KEY.format(scope=self.scope, client=client),
            USER_KEY.format(scope=self.scope, digest=digest),
        ]

    async def attempt(self, client: str, username: str) -> int:
        """Count a login as ``username`` from ``client``; 0 if it may be checked, or the
        seconds to wait (the Retry-After) if it is refused unchecked."""
        client_key, user_key = self._keys(client, username)
        limits = self.limits
        windows = [(client_key, limits.per_client), (user_key, limits.per_user)]
        return await self._attempts.attempt(windows, limits.window)

    async def succeeded(self, client: str, username: str) -> None:
        """Give back the attempt of a login that succeeded: only failures count."""
        await self._attempts.give_back(self._keys(client, username))
