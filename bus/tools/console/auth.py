"""Who may use the console: the ``ops`` login, which may act, and ``ops-readonly``, which
may only look; sessions kept in Redis behind an HttpOnly, SameSite=Strict cookie.

A session outlives a restart of the console (supervisord restarts it), and every console
on the same Redis and namespace agrees on it. Redis holds each one under the SHA-256 of
its cookie token, never the token: a dump of Redis logs no one in."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Final

from fastapi import Depends, HTTPException, Request, status
from redis.asyncio import Redis

from bus.security import OPS, OPS_READONLY, CredentialStore

log = logging.getLogger("bus.console")

COOKIE = "chorus_console"
"""The session cookie's name."""

SESSION_LIFETIME = 12 * 3600.0
"""Seconds a session lasts after its login."""

SESSION_KEY: Final = "chorus:console:session:{scope}:{digest}"
"""One session (JSON: user name, role, CSRF token, the :func:`fingerprint` of its
password), by the SHA-256 of its cookie token; expires with the session."""


class Role(StrEnum):
    """``operator`` may act (replay, discard, edit config); ``viewer`` may only look."""

    operator = "operator"
    viewer = "viewer"


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    password: str
    role: Role


RELOAD_EVERY = 2.0
"""Seconds between two readings of the credentials store: a changed password ends the
sessions opened with the old one within that time."""


@dataclass
class Users:
    """The logins the console accepts, as the credentials store says (read again at
    most every :data:`RELOAD_EVERY` seconds when a login or a session is checked).

    Attributes:
        logins: The logins as last read.
        store: Where they come from (None: ``logins`` for good).
        reload_every: Seconds a reading stays current.
    """

    logins: tuple[Login, ...]
    store: CredentialStore | None = None
    reload_every: float = RELOAD_EVERY
    _read_at: float = field(default_factory=time.monotonic)

    @classmethod
    def from_store(cls, store: CredentialStore) -> Users:
        """``ops`` (its broker password) as operator, and ``ops-readonly`` (generated in
        the store on first use) as viewer.

        Raises:
            LookupError: the store holds no ``ops`` identity (the stack never started).
        """
        ops = store.identity(OPS)
        if ops is None:
            raise LookupError(f"no {OPS} credential in {store.root} (run 'make up' first)")
        viewer = store.ensure_identity(OPS_READONLY)
        return cls(
            (
                Login(ops.username, ops.password, Role.operator),
                Login(viewer.username, viewer.password, Role.viewer),
            ),
            store,
        )

    def current(self) -> tuple[Login, ...]:
        """The logins, read again from the store if the last reading is old. A login
        whose file is gone is refused from then on; an unreadable store (a file being
        replaced) keeps the last reading."""
        now = time.monotonic()
        if self.store is None or now - self._read_at < self.reload_every:
            return self.logins
        self._read_at = now
        try:
            found = [
                (self.store.identity(name), role)
                for name, role in ((OPS, Role.operator), (OPS_READONLY, Role.viewer))
            ]
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("console: the credentials in %s are unreadable: kept as they were",
                        self.store.root)  # fmt: skip
            return self.logins
        self.logins = tuple(Login(c.username, c.password, r) for c, r in found if c is not None)
        return self.logins

    def check(self, username: str, password: str) -> Role | None:
        """The role of this login, or None. Every login is compared in constant time,
        whichever matches, so timing tells nothing about names or passwords."""
        found: Role | None = None
        for login in self.current():
            name_ok = hmac.compare_digest(login.username.encode(), username.encode())
            password_ok = hmac.compare_digest(login.password.encode(), password.encode())
            if name_ok and password_ok:
                found = login.role
        return found

    def password_of(self, username: str) -> str | None:
        """The current password of ``username`` (None: no such login any more)."""
        return next((x.password for x in self.current() if x.username == username), None)


def fingerprint(password: str, token: str) -> str:
    """What a session keeps of the password it logged in with: an HMAC of its own cookie
    token under that password (Redis never holds the token, so a dump of Redis gives no
    way to test guesses of the password)."""
    return hmac.new(password.encode(), token.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    """One logged-in browser: its user, role and the token each form must send back."""

    token: str
    username: str
    role: Role
    csrf: str

    @property
    def can_act(self) -> bool:
        return self.role is Role.operator


class Sessions:
    """Live sessions by cookie token, in Redis, each expiring ``lifetime`` seconds after
    its login.

    Args:
        redis: Where they are kept.
        scope: Whose: the console's name in its namespace (a test's console never sees
            the sessions of the one ``make up`` runs).
        lifetime: Seconds a session lasts.
        users: The logins: a session whose user's password changed since it logged in
            (or who is gone) is refused, and revoked.
    """

    def __init__(
        self, redis: Redis, scope: str, lifetime: float = SESSION_LIFETIME,
        users: Users | None = None,
    ) -> None:  # fmt: skip
        self.redis, self.scope, self.lifetime, self.users = redis, scope, lifetime, users

    def key(self, token: str) -> str:
        """The Redis key of the session whose cookie carries ``token``."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        return SESSION_KEY.format(scope=self.scope, digest=digest)

    async def open(self, username: str, role: Role, password: str = "") -> Session:
        """A new session for ``username``, who logged in with ``password``."""
        session = Session(
            token=secrets.token_urlsafe(32),
            username=username,
            role=role,
            csrf=secrets.token_urlsafe(32),
        )
        value = json.dumps({"username": username, "role": role.value, "csrf": session.csrf,
                            "key": fingerprint(password, session.token)})  # fmt: skip
        await self.redis.set(self.key(session.token), value, px=round(self.lifetime * 1000))
        return session

    async def get(self, token: str | None) -> Session | None:
        """The session of ``token``; None for none, an unknown, a revoked or an expired one,
        and one whose user's password is no longer the one it logged in with."""
        if not token:
            return None
        value = await self.redis.get(self.key(token))
        if value is None:
            return None
        data = json.loads(value)
        if self.users is not None:
            password = self.users.password_of(data["username"])
            kept = str(data.get("key", ""))
            if password is None or not hmac.compare_digest(
                kept.encode(), fingerprint(password, token).encode()
            ):
                await self.close(token)
                return None
        return Session(token, data["username"], Role(data["role"]), data["csrf"])

    async def close(self, token: str | None) -> None:
        """Revoke the session of ``token`` (logging out): its cookie opens nothing after."""
        if token:
            await self.redis.delete(self.key(token))


class NotLoggedInError(Exception):
    """Raised by :func:`current_session` for a request without a valid session."""


async def current_session(request: Request) -> Session:
    """The request's session (a dependency); a page without one redirects to the login."""
    sessions: Sessions = request.app.state.sessions
    session = await sessions.get(request.cookies.get(COOKIE))
    if session is None:
        raise NotLoggedInError
    request.state.session = session
    return session


async def operator(session: Annotated[Session, Depends(current_session)]) -> Session:
    """The session, if its role may act (a dependency of every action)."""
    if not session.can_act:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "read-only login: actions are refused")
    return session


SessionDep = Annotated[Session, Depends(current_session)]
