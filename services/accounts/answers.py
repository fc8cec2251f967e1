"""What accounts answers over the bus (request/reply, :mod:`bus.requests`).

Answers: QuotaLeft. Each answer only reads, so a query asked twice is harmlessly
answered twice. The gateway does not ask it: it reads accounts' read model
(:mod:`services.accounts.queries`) on every upload; the query is for a service or an
outside team that has no access to that database and needs the figure now.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bus import Service
from contracts import QuotaLeft, QuotaLeftReply
from services.accounts.models import Quota
from services.accounts.quota import parse_user_id


class UnknownUserError(LookupError):
    """No account holds that user id (the requester gets it as an error reply)."""


async def quota_left(session: AsyncSession, user_id: str) -> QuotaLeftReply:
    """What is left of ``user_id``'s quota, read in ``session``.

    Raises:
        UnknownUserError: no such user.
    """
    parsed = parse_user_id(user_id)
    quota = None
    if parsed is not None:
        quota = (await session.exec(select(Quota).where(Quota.user_id == parsed))).first()
    if quota is None:
        raise UnknownUserError(f"no account for user {user_id!r}")
    return QuotaLeftReply(
        documents_left=max(0, quota.max_documents - quota.documents_used),
        bytes_left=max(0, quota.max_bytes - quota.bytes_used),
        max_documents=quota.max_documents, max_bytes=quota.max_bytes,
    )  # fmt: skip


def answer_queries(service: Service, session: Callable[[], AsyncSession]) -> None:
    """Register accounts' answers on ``service``; ``session`` opens a database session."""

    @service.responds(QuotaLeft)
    async def on_quota_left(query: QuotaLeft) -> QuotaLeftReply:
        async with session() as opened:
            return await quota_left(opened, query.user_id)
