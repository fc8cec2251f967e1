"""Read-only questions about accounts, for the gateway (who holds a key, what quota is
left) and the notifier (where to mail a user)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

from sqlalchemy.exc import ProgrammingError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.db import create_engine, session_maker
from services.accounts.keys import KEY_PREFIX, hash_api_key
from services.accounts.models import ApiKey, Quota, User
from services.accounts.quota import QuotaView, parse_user_id

__all__ = ["AccountsReader", "Identity", "QuotaView"]

_UNDEFINED_TABLE = "42P01"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who an API key belongs to."""

    user_id: str
    email: str


class AccountsReader:
    """Read-only access to the accounts database, with a small connection pool of its own.

    It never creates the tables: until the accounts service (or ``create_user``)
    has, there are no accounts, and every question finds none.

    Example::

        async with AccountsReader(settings.postgres_url) as reader:
            identity = await reader.authenticate(api_key)
            if identity is not None:
                quota = await reader.quota(identity.user_id)

    Args:
        postgres_url: The accounts database (``BusSettings.postgres_url``).
        pool_size: Connections to keep open.
    """

    def __init__(self, postgres_url: str, *, pool_size: int = 5) -> None:
        self._engine = create_engine(postgres_url, pool_size=pool_size)
        self._sessions = session_maker(self._engine)

    async def __aenter__(self) -> AccountsReader:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connections."""
        await self._engine.dispose()

    async def authenticate(self, api_key: str) -> Identity | None:
        """The owner of an active ``api_key``; None for an unknown or revoked key."""
        if not api_key.startswith(KEY_PREFIX):
            return None
        statement = (
            select(User.id, User.email)
            .join(ApiKey)
            .where(
                col(ApiKey.key_hash) == hash_api_key(api_key),
                col(ApiKey.revoked_at).is_(None),
            )
        )

        async def query(session: AsyncSession) -> Identity | None:
            row = (await session.exec(statement)).first()
            return None if row is None else Identity(user_id=str(row[0]), email=row[1])

        return await self._read(query)

    async def quota(self, user_id: str) -> QuotaView | None:
        """A user's limits and usage; None for an unknown user."""
        parsed = parse_user_id(user_id)
        if parsed is None:
            return None
        statement = select(Quota).where(Quota.user_id == parsed)

        async def query(session: AsyncSession) -> QuotaView | None:
            quota = (await session.exec(statement)).first()
            if quota is None:
                return None
            return QuotaView(
                max_documents=quota.max_documents, max_bytes=quota.max_bytes,
                documents_used=quota.documents_used, bytes_used=quota.bytes_used,
            )  # fmt: skip

        return await self._read(query)

    async def email_of(self, user_id: str) -> str | None:
        """The email address of the user ``user_id``; None for an unknown user."""
        parsed = parse_user_id(user_id)
        if parsed is None:
            return None
        statement = select(User.email).where(User.id == parsed)

        async def query(session: AsyncSession) -> str | None:
            return (await session.exec(statement)).first()

        return await self._read(query)

    async def find(self, email: str) -> Identity | None:
        """The user with this email address (compared in lower case); None if there is none."""
        statement = select(User.id, User.email).where(User.email == email.strip().lower())

        async def query(session: AsyncSession) -> Identity | None:
            row = (await session.exec(statement)).first()
            return None if row is None else Identity(user_id=str(row[0]), email=row[1])

        return await self._read(query)

    async def _read(self, query: Callable[[AsyncSession], Awaitable[T | None]]) -> T | None:
        async with self._sessions() as session:
            try:
                return await query(session)
            except ProgrammingError as exc:
                if getattr(exc.orig, "sqlstate", None) == _UNDEFINED_TABLE:
                    return None  # no tables yet, so no accounts yet
                raise
