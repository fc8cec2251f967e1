"""Who may use the console: the ``ops`` login, which may act, and ``ops-readonly``, which
may only look; sessions kept in memory behind an HttpOnly, SameSite=Strict cookie."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from bus.security import OPS, OPS_READONLY, CredentialStore

COOKIE = "chorus_console"
"""The session cookie's name."""

SESSION_LIFETIME = 12 * 3600.0
"""Seconds a session lasts after its login."""


class Role(StrEnum):
    """``operator`` may act (replay, discard, edit config); ``viewer`` may only look."""

    operator = "operator"
    viewer = "viewer"


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    password: str
    role: Role


@dataclass(frozen=True)
class Users:
    """The logins the console accepts."""

    logins: tuple[Login, ...]

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
            )
        )

    def check(self, username: str, password: str) -> Role | None:
        """The role of this login, or None. Every login is compared in constant time,
        whichever matches, so timing tells nothing about names or passwords."""
        found: Role | None = None
        for login in self.logins:
            name_ok = hmac.compare_digest(login.username.encode(), username.encode())
            password_ok = hmac.compare_digest(login.password.encode(), password.encode())
            if name_ok and password_ok:
                found = login.role
        return found


@dataclass(frozen=True, slots=True)
class Session:
    """One logged-in browser: its user, role and the token each form must send back."""

    token: str
    username: str
    role: Role
    csrf: str
    expires: float

    @property
    def can_act(self) -> bool:
        return self.role is Role.operator


@dataclass
class Sessions:
    """Live sessions by cookie token, in memory: restarting the console logs everyone out."""

    lifetime: float = SESSION_LIFETIME
    _by_token: dict[str, Session] = field(default_factory=dict)

    def open(self, username: str, role: Role) -> Session:
        session = Session(
            token=secrets.token_urlsafe(32),
            username=username,
            role=role,
            csrf=secrets.token_urlsafe(32),
            expires=time.monotonic() + self.lifetime,
        )
        self._by_token[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        session = self._by_token.get(token) if token else None
        if session is not None and session.expires < time.monotonic():
            del self._by_token[session.token]
            return None
        return session

    def close(self, token: str | None) -> None:
        if token:
            self._by_token.pop(token, None)


class NotLoggedInError(Exception):
    """Raised by :func:`current_session` for a request without a valid session."""


def current_session(request: Request) -> Session:
    """The request's session (a dependency); a page without one redirects to the login."""
    sessions: Sessions = request.app.state.sessions
    session = sessions.get(request.cookies.get(COOKIE))
    if session is None:
        raise NotLoggedInError
    request.state.session = session
    return session


def operator(session: Annotated[Session, Depends(current_session)]) -> Session:
    """The session, if its role may act (a dependency of every action)."""
    if not session.can_act:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "read-only login: actions are refused")
    return session


SessionDep = Annotated[Session, Depends(current_session)]
