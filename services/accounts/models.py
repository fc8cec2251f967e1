"""The tables the accounts service owns, one family of SQLModel classes per entity.

``UserBase`` holds what a user is told and tells; ``UserCreate`` is what creating
one takes (validated); ``User`` is the table. The quota row is the one every
reservation locks; the usage ledger is the memory that makes reserving and
releasing a document idempotent: at most one ``reserve`` and one ``release``
row per document, enforced by a unique key.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import BigInteger, CheckConstraint, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

RESERVE: Final = "reserve"
RELEASE: Final = "release"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _now() -> datetime:
    return datetime.now(UTC)


def _timestamp(**kwargs: Any) -> Any:
    return Field(default_factory=_now, sa_type=DateTime(timezone=True), **kwargs)


# -- users --------------------------------------------------------------


class UserBase(SQLModel):
    email: str = Field(unique=True, index=True, max_length=320)
    name: str | None = Field(default=None, max_length=255)


class UserCreate(UserBase):
    """What creating a user takes; quotas left out get the configured defaults."""

    max_documents: int | None = Field(default=None, ge=0)
    max_bytes: int | None = Field(default=None, ge=0)

    @field_validator("email")
    @classmethod
    def _normalise_email(cls, value: str) -> str:
        # Addresses compare case-insensitively here, so one person cannot hold two accounts.
        email = value.strip().lower()
        if not _EMAIL.match(email):
            raise PydanticCustomError(
                "email", "not an email address: {value}", {"value": repr(value)}
            )
        return email


class User(UserBase, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    created_at: datetime = _timestamp()


# -- API keys -----------------------------------------------------------


class ApiKeyBase(SQLModel):
    prefix: str = Field(max_length=16, description="The key's first characters, for display")


class ApiKey(ApiKeyBase, table=True):
    """An API key; only its SHA-256 is stored, so the key itself is shown once."""

    __tablename__ = "api_keys"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    key_hash: str = Field(unique=True, min_length=64, max_length=64)
    created_at: datetime = _timestamp()
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


# -- quotas -------------------------------------------------------------


class QuotaBase(SQLModel):
    max_documents: int = Field(ge=0)
    max_bytes: int = Field(ge=0, sa_type=BigInteger)


class Quota(QuotaBase, table=True):
    """A user's limits and what is used of them; locked by every reservation."""

    __tablename__ = "quotas"
    __table_args__ = (
        CheckConstraint("max_documents >= 0 AND max_bytes >= 0", name="ck_quota_limits"),
        CheckConstraint("documents_used >= 0 AND bytes_used >= 0", name="ck_quota_usage"),
    )

    user_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    documents_used: int = Field(default=0)
    bytes_used: int = Field(default=0, sa_type=BigInteger)


# -- usage ledger -------------------------------------------------------


class UsageEntry(SQLModel, table=True):
    """One reservation or release of one document's quota.

    ``(document_id, kind)`` is unique: a document is reserved at most once and
    released at most once, whatever redeliveries or replicas do. The usage
    after the change is kept so that a repeated request gets the same answer.
    """

    __tablename__ = "usage_ledger"
    __table_args__ = (
        UniqueConstraint("document_id", "kind", name="uq_usage_document_kind"),
        CheckConstraint(f"kind IN ('{RESERVE}', '{RELEASE}')", name="ck_usage_kind"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    document_id: uuid.UUID
    kind: str = Field(max_length=16)
    documents: int = Field(description="Change in documents used: +1 or -1")
    bytes: int = Field(sa_type=BigInteger, description="Change in bytes used")
    documents_used_after: int
    bytes_used_after: int = Field(sa_type=BigInteger)
    event_id: str | None = Field(default=None, max_length=200, description="The cause")
    at: datetime = _timestamp()
