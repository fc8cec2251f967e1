"""Reserving and giving back quota, callable without the bus (given a session).

Every change locks the owner's quota row (``SELECT … FOR UPDATE``), so
reservations that reach two replicas at once are decided one after the other
and never overshoot. The usage ledger holds at most one ``reserve`` and one
``release`` row per document (a unique key), so asking again for a document
changes nothing and gets the first answer.

A refusal is not recorded: asking again for a refused document decides again
against the usage of the moment (it may fit by then). Reservations are what
must never happen twice; a refusal writes nothing to undo.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.models import RELEASE, RESERVE, Quota, UsageEntry, User

UNKNOWN_ACCOUNT: Final = "unknown account"


@dataclass(frozen=True, slots=True)
class QuotaView:
    """A user's limits and what is used of them."""

    max_documents: int
    max_bytes: int
    documents_used: int
    bytes_used: int

    def allows(self, size_bytes: int) -> bool:
        """Whether one more document of ``size_bytes`` fits."""
        return self.refusal(size_bytes) is None

    def describe_refusal(self, size_bytes: int) -> str:
        """Why one more document of ``size_bytes`` would be refused; empty if it fits."""
        return self.refusal(size_bytes) or ""

    def refusal(self, size_bytes: int) -> str | None:
        """The reason one more document of ``size_bytes`` does not fit, or None."""
        if self.documents_used + 1 > self.max_documents:
            return f"document quota exhausted: {self.documents_used} of {self.max_documents} used"
        if self.bytes_used + size_bytes > self.max_bytes:
            return (
                f"byte quota exceeded: {format_size(self.bytes_used)} of "
                f"{format_size(self.max_bytes)} used, the document needs {format_size(size_bytes)}"
            )
        return None


@dataclass(frozen=True, slots=True)
class Reserved:
    """The document's quota is set aside; usage is as it was right after that.

    Attributes:
        repeated: The document had been reserved before; nothing changed now.
    """

    user_id: str
    email: str
    size_bytes: int
    documents_used: int
    bytes_used: int
    repeated: bool = False


@dataclass(frozen=True, slots=True)
class Exceeded:
    """The document does not fit (or has no known owner); nothing was written."""

    reason: str
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Released:
    """The document's reservation was given back; usage is as it was right after that.

    Attributes:
        repeated: The same request (``event_id``) had given it back before.
    """

    user_id: str
    email: str
    size_bytes: int
    documents_used: int
    bytes_used: int
    repeated: bool = False


async def reserve(
    session: AsyncSession,
    *,
    owner: str | uuid.UUID,
    document_id: uuid.UUID,
    size_bytes: int,
    event_id: str | None = None,
) -> Reserved | Exceeded:
    """Set aside one document and ``size_bytes`` of ``owner``'s quota, once per document.

    Ends the session's transaction (commits or rolls back).

    Args:
        session: A session; its transaction is committed or rolled back here.
        owner: The user id; anything that is not a known user's id is refused as
            ``"unknown account"``.
        document_id: The document; a second reservation of it changes nothing and
            returns the first one's outcome (``Reserved.repeated``).
        size_bytes: The document's size.
        event_id: The event asking, kept in the ledger.

    Returns:
        :class:`Reserved` with the usage after the reservation, or :class:`Exceeded`
        with a reason a person can read.
    """
    if size_bytes < 0:
        msg = f"size_bytes must be 0 or more, got {size_bytes}"
        raise ValueError(msg)
    user_id = parse_user_id(owner)
    if user_id is None:
        return Exceeded(UNKNOWN_ACCOUNT)
    try:
        return await _reserve(session, user_id, document_id, size_bytes, event_id)
    except IntegrityError:
        # Another account reserved the same document id at the same moment (each held
        # its own quota lock); ask again, now that its ledger row is visible.
        await session.rollback()
        return await _reserve(session, user_id, document_id, size_bytes, event_id)


async def _reserve(
    session: AsyncSession,
    user_id: uuid.UUID,
    document_id: uuid.UUID,
    size_bytes: int,
    event_id: str | None,
) -> Reserved | Exceeded:
    # Each outcome is built before the transaction ends: ending it expires the rows read.
    try:
        locked = await session.exec(
            select(Quota, User.email)
            .join(User)
            .where(Quota.user_id == user_id)
            .with_for_update(of=Quota)
        )
        row = locked.first()
        if row is None:
            await session.rollback()
            return Exceeded(UNKNOWN_ACCOUNT)
        quota, email = row
        earlier = await _ledger_entry(session, document_id, RESERVE)
        outcome: Reserved | Exceeded
        if earlier is not None:
            if earlier.user_id != user_id:
                outcome = Exceeded(f"document {document_id} is reserved by another account", email)
            else:
                outcome = Reserved(
                    user_id=str(user_id), email=email, size_bytes=earlier.bytes,
                    documents_used=earlier.documents_used_after,
                    bytes_used=earlier.bytes_used_after, repeated=True,
                )  # fmt: skip
            await session.rollback()
            return outcome
        reason = _view(quota).refusal(size_bytes)
        if reason is not None:
            await session.rollback()
            return Exceeded(reason, email)
        quota.documents_used += 1
        quota.bytes_used += size_bytes
        entry = UsageEntry(
            user_id=user_id, document_id=document_id, kind=RESERVE,
            documents=1, bytes=size_bytes, event_id=event_id,
            documents_used_after=quota.documents_used, bytes_used_after=quota.bytes_used,
        )  # fmt: skip
        outcome = Reserved(
            user_id=str(user_id), email=email, size_bytes=size_bytes,
            documents_used=quota.documents_used, bytes_used=quota.bytes_used,
        )  # fmt: skip
        session.add_all([quota, entry])
        await session.commit()
    except Exception:
        await session.rollback()
        raise
    return outcome


async def release(
    session: AsyncSession, *, document_id: uuid.UUID, event_id: str | None = None
) -> Released | None:
    """Give back a document's reservation, once.

    Ends the session's transaction (commits or rolls back).

    Args:
        session: A session; its transaction is committed or rolled back here.
        document_id: The document whose reservation to give back.
        event_id: The event asking, kept in the ledger. The same ``event_id``
            asking again gets the first answer again (``Released.repeated``), so a
            handler that runs again announces the same release again.

    Returns:
        :class:`Released` with the usage after, or None when there is nothing to
        give back: never reserved, or already given back for another request.
    """
    try:
        return await _release(session, document_id, event_id)
    except IntegrityError:
        # Not possible while every release of a document waits for its owner's
        # quota lock, but should it happen, the second look finds the release.
        await session.rollback()
        return await _release(session, document_id, event_id)


async def _release(
    session: AsyncSession, document_id: uuid.UUID, event_id: str | None
) -> Released | None:
    try:
        reserved = await _ledger_entry(session, document_id, RESERVE)
        if reserved is None:
            await session.rollback()
            return None
        user_id = reserved.user_id
        locked = await session.exec(
            select(Quota, User.email)
            .join(User)
            .where(Quota.user_id == user_id)
            .with_for_update(of=Quota)
        )
        quota, email = locked.one()
        earlier = await _ledger_entry(session, document_id, RELEASE)
        outcome: Released | None
        if earlier is not None:
            outcome = None
            if event_id is not None and earlier.event_id == event_id:
                outcome = Released(
                    user_id=str(user_id), email=email, size_bytes=-earlier.bytes,
                    documents_used=earlier.documents_used_after,
                    bytes_used=earlier.bytes_used_after, repeated=True,
                )  # fmt: skip
            await session.rollback()
            return outcome
        quota.documents_used = max(0, quota.documents_used - reserved.documents)
        quota.bytes_used = max(0, quota.bytes_used - reserved.bytes)
        entry = UsageEntry(
            user_id=user_id, document_id=document_id, kind=RELEASE,
            documents=-reserved.documents, bytes=-reserved.bytes, event_id=event_id,
            documents_used_after=quota.documents_used, bytes_used_after=quota.bytes_used,
        )  # fmt: skip
        outcome = Released(
            user_id=str(user_id), email=email, size_bytes=reserved.bytes,
            documents_used=quota.documents_used, bytes_used=quota.bytes_used,
        )  # fmt: skip
        session.add_all([quota, entry])
        await session.commit()
    except Exception:
        await session.rollback()
        raise
    return outcome


async def _ledger_entry(
    session: AsyncSession, document_id: uuid.UUID, kind: str
) -> UsageEntry | None:
    result = await session.exec(
        select(UsageEntry).where(UsageEntry.document_id == document_id, UsageEntry.kind == kind)
    )
    return result.first()


def _view(quota: Quota) -> QuotaView:
    return QuotaView(
        max_documents=quota.max_documents, max_bytes=quota.max_bytes,
        documents_used=quota.documents_used, bytes_used=quota.bytes_used,
    )  # fmt: skip


def parse_user_id(owner: str | uuid.UUID) -> uuid.UUID | None:
    """``owner`` as a user id, or None if it is not a UUID."""
    if isinstance(owner, uuid.UUID):
        return owner
    try:
        return uuid.UUID(owner)
    except ValueError:
        return None


def format_size(size: int) -> str:
    """``1536`` -> ``'1.5 KiB'``; whole numbers lose their ``.0``."""
    if size < 1024:
        return f"{size} bytes" if size != 1 else "1 byte"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    text = f"{value:.1f}".removesuffix(".0")
    return f"{text} {unit}"
