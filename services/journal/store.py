"""Writing to and reading from the journal; callable without the bus."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from bus import Envelope
from services.journal.models import JournalEntry


async def record(envelope: Envelope) -> bool:
    """Append an envelope; False if the event id is already there (a redelivery)."""
    entry = JournalEntry(
        id=envelope.id,
        type=envelope.type,
        source=envelope.source,
        time=envelope.time,
        correlationid=envelope.correlationid,
        causationid=envelope.causationid,
        envelope=envelope.model_dump(mode="json", exclude_none=True),
    )
    try:
        await entry.insert()
    except DuplicateKeyError:
        return False
    return True


async def latest(*, event_type: str | None = None, limit: int = 20) -> list[JournalEntry]:
    """The newest recorded entries first, optionally of one type only."""
    query = (
        JournalEntry.find(JournalEntry.type == event_type) if event_type else JournalEntry.find()
    )
    return await query.sort(-JournalEntry.recorded_at).limit(limit).to_list()  # type: ignore[operator]


async def chain(correlation_id: str) -> list[JournalEntry]:
    """Every recorded event of one causal chain, oldest first."""
    query = JournalEntry.find(JournalEntry.correlationid == correlation_id)
    return await query.sort(+JournalEntry.time).to_list()  # type: ignore[operator]
