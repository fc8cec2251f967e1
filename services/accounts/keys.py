"""Users and their API keys: creating them, and the keys' form and hashing.

A key is ``chorus_`` followed by 43 URL-safe characters (32 random bytes). Only
its SHA-256 is stored: the key is shown once, when it is made, and a lost key
is replaced, never recovered.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.config import AccountsSettings
from services.accounts.db import open_database
from services.accounts.models import ApiKey, Quota, User, UserCreate

KEY_PREFIX: Final = "chorus_"
_DISPLAYED: Final = len(KEY_PREFIX) + 6
"""How many leading characters of a key are kept in the clear, to tell keys apart."""


class AccountExistsError(ValueError):
    """An account with that email address exists already."""


class InvalidAccountError(ValueError):
    """What creating an account was given is not valid (the message says what)."""


@dataclass(frozen=True, slots=True)
class NewUser:
    """A user just created, with the API key that is shown this once."""

    user_id: str
    email: str
    api_key: str


def generate_api_key() -> str:
    """A new random API key: ``chorus_`` + 43 URL-safe characters."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    """The SHA-256 of a key, in hex: what is stored and looked up."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def validate_new_user(
    email: str,
    *,
    name: str | None = None,
    max_documents: int | None = None,
    max_bytes: int | None = None,
) -> UserCreate:
    """The checked and normalised request; :class:`InvalidAccountError` saying what is wrong."""
    try:
        return UserCreate.model_validate(
            {"email": email, "name": name, "max_documents": max_documents, "max_bytes": max_bytes}
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
            + ("" if e["type"] == "email" else f" (got {e['input']!r})")
            for e in exc.errors()
        )
        raise InvalidAccountError(problems) from None


async def create_user(
    postgres_url: str,
    email: str,
    *,
    name: str | None = None,
    max_documents: int | None = None,
    max_bytes: int | None = None,
    config: AccountsSettings | None = None,
) -> NewUser:
    """Create a user with a quota and one API key; creates the tables if missing.

    Args:
        postgres_url: The accounts database (``BusSettings.postgres_url``).
        email: The user's address; stored in lower case, unique.
        name: A display name.
        max_documents: Documents the user may hold; default ``config.default_max_documents``.
        max_bytes: Bytes the user may hold; default ``config.default_max_bytes``.
        config: The defaults; default: from the environment (``ACCOUNTS_…``).

    Returns:
        The new user's id and email, and the API key (not stored anywhere: show it now).

    Raises:
        InvalidAccountError: A bad email address or a negative quota (before any connection).
        AccountExistsError: An account with that email exists.
    """
    request = validate_new_user(email, name=name, max_documents=max_documents, max_bytes=max_bytes)
    defaults = config or AccountsSettings()
    async with open_database(postgres_url, pool_size=1) as sessions, sessions() as session:
        return await add_user(session, request, defaults)


async def add_user(
    session: AsyncSession, request: UserCreate, defaults: AccountsSettings
) -> NewUser:
    """Insert the user, its quota and a first key in one transaction; commits.

    Returns:
        The user's id and email, and its API key.
    """
    existing = await session.exec(select(User.id).where(User.email == request.email))
    if existing.first() is not None:
        await session.rollback()
        raise AccountExistsError(f"an account for {request.email} already exists")
    user = User(email=request.email, name=request.name)
    quota = Quota(
        user_id=user.id,
        max_documents=_or(request.max_documents, defaults.default_max_documents),
        max_bytes=_or(request.max_bytes, defaults.default_max_bytes),
    )
    try:
        session.add(user)
        await session.flush()  # the user row first: the quota and the key refer to it
        session.add(quota)
        api_key = _add_key(session, user.id)
        created = NewUser(user_id=str(user.id), email=user.email, api_key=api_key)
        await session.commit()
    except IntegrityError:
        # Created by someone else between the check and the insert.
        await session.rollback()
        raise AccountExistsError(f"an account for {request.email} already exists") from None
    return created


async def issue_api_key(session: AsyncSession, user_id: uuid.UUID) -> str:
    """Give a user one more API key; commits. Returns the key (shown once)."""
    api_key = _add_key(session, user_id)
    await session.commit()
    return api_key


async def revoke_api_key(session: AsyncSession, api_key: str) -> bool:
    """Revoke a key from now on; commits. False if no such key is active."""
    result = await session.exec(
        update(ApiKey)
        .where(col(ApiKey.key_hash) == hash_api_key(api_key), col(ApiKey.revoked_at).is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    await session.commit()
    return bool(result.rowcount)


def _add_key(session: AsyncSession, user_id: uuid.UUID) -> str:
    api_key = generate_api_key()
    session.add(
        ApiKey(user_id=user_id, key_hash=hash_api_key(api_key), prefix=api_key[:_DISPLAYED])
    )
    return api_key


def _or(value: int | None, default: int) -> int:
    return default if value is None else value
