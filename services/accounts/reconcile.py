"""The nightly reconciliation: each quota's counters against its usage ledger.

``documents_used`` and ``bytes_used`` on a quota row are a running total kept beside the
ledger (one ``reserve`` and one ``release`` row per document), so that a reservation
reads one row. They agree unless something wrote one without the other: a hand edit, a
restore of one table, a bug. Once a night (a scheduled job: once per tick across the
service's replicas) each quota is set to what its ledger adds up to, under the same row
lock reservations take, and each correction is logged and counted.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from prometheus_client import Counter
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.accounts.models import Quota, UsageEntry

log = logging.getLogger("services.accounts")

CORRECTED = Counter(
    "chorus_quota_corrections_total",
    "Quotas whose running totals the nightly reconciliation set back to their ledger's.",
)


@dataclass(frozen=True, slots=True)
class Correction:
    """A quota whose totals differed from its ledger's, and what they were set to."""

    user_id: uuid.UUID
    documents_used: tuple[int, int]
    """(before, after)"""
    bytes_used: tuple[int, int]
    """(before, after)"""


async def reconcile(session: AsyncSession) -> list[Correction]:
    """Set every quota's totals to its ledger's sums; returns the quotas that differed.

    One short transaction per quota (its row locked ``FOR UPDATE``, then its ledger
    summed), so reservations wait for one user at a time, never for the whole run.
    """
    users = (await session.exec(select(Quota.user_id).order_by(col(Quota.user_id)))).all()
    await session.commit()
    corrections = []
    for user_id in users:
        correction = await _reconcile_one(session, user_id)
        if correction is not None:
            corrections.append(correction)
    return corrections


async def _reconcile_one(session: AsyncSession, user_id: uuid.UUID) -> Correction | None:
    locked = select(Quota).where(Quota.user_id == user_id).with_for_update()
    quota = (await session.exec(locked)).first()
    if quota is None:  # the user was deleted meanwhile
        await session.commit()
        return None
    sums = select(
        func.coalesce(func.sum(UsageEntry.documents), 0),
        func.coalesce(func.sum(UsageEntry.bytes), 0),
    ).where(UsageEntry.user_id == user_id)
    documents, size = (await session.exec(sums)).one()
    if (quota.documents_used, quota.bytes_used) == (documents, size):
        await session.commit()
        return None
    correction = Correction(
        user_id, (quota.documents_used, int(documents)), (quota.bytes_used, int(size))
    )
    quota.documents_used, quota.bytes_used = int(documents), int(size)
    session.add(quota)
    await session.commit()
    CORRECTED.inc()
    log.warning(
        "quota of %s set back to its ledger: documents %d -> %d, bytes %d -> %d",
        user_id, *correction.documents_used, *correction.bytes_used,
    )  # fmt: skip
    return correction
