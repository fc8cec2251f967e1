"""The event journal: every domain event's envelope, stored whole, keyed by its id.

The journal service writes it; any service reads it to catch up on events the
broker dropped for it (see :mod:`bus.runtime.catchup`); ``bus journal`` lists it.

Catch-up reads the entries recorded since a moment. Each entry names the minute it was
recorded in (``minute``), and :func:`since` reads its window minute by minute and type by
type, equalities each: FerretDB 1.24 hands PostgreSQL equalities (and an index serves
them), while a range on ``recorded_at`` with an ``$in`` of types it filters itself after
reading the whole journal (about 1 s at 10,000 entries; 10 s at 100,000).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from beanie import Document
from beanie.operators import In
from pydantic import Field, model_validator
from pymongo import DESCENDING, IndexModel
from pymongo.errors import BulkWriteError, DuplicateKeyError

from bus.envelope import Envelope


class JournalEntry(Document):
    """One event as it travelled. ``id`` is the event id, so a redelivery can't add a second."""

    id: str  # type: ignore[assignment]  # the event id is the primary key, not an ObjectId
    type: str
    source: str
    time: datetime
    correlationid: str | None = None
    causationid: str | None = None
    envelope: dict[str, Any]
    recorded_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    minute: str = Field(default="", description="``recorded_at``'s minute, for catch-up")

    @model_validator(mode="after")
    def _minute_of_recording(self) -> JournalEntry:
        self.minute = minute_of(self.recorded_at)
        return self

    class Settings:
        name = "journal"
        indexes = [  # noqa: RUF012 - Beanie reads this class attribute
            IndexModel([("minute", 1)]),
            IndexModel([("recorded_at", DESCENDING)]),
            IndexModel([("type", 1), ("recorded_at", DESCENDING)]),
            IndexModel([("correlationid", 1)]),
        ]


_DUPLICATE_KEY = 11000

MINUTES: Final = "journal_minutes"
"""Where the journal notes since when its entries name their minute (one record,
``{"_id": "since", "at": ...}``): a window that starts earlier is read the old way."""

UPGRADE_GRACE: Final = timedelta(hours=1)
"""How long after that note a window is still read the old way: replicas of the earlier
version may go on writing entries without a minute while an upgrade rolls through."""

MAX_MINUTES: Final = 6 * 60
"""The longest window :func:`since` reads minute by minute; a longer one is read whole."""

CLOCK_MARGIN: Final = timedelta(minutes=10)
"""Minutes past the reader's clock that :func:`since` reads too: a writer's clock may be
ahead (an entry names the minute of its writer's clock)."""

_noted: set[str] = set()
"""The databases whose journal this process has noted as naming minutes."""


def minute_of(moment: datetime) -> str:
    """The minute ``moment`` falls in, in UTC, as a journal entry names it."""
    return _aware(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


async def _note_minutes() -> None:
    """Before this process first writes to a journal: note that its entries name their
    minute from now on (the first writer's note stays)."""
    collection = JournalEntry.get_pymongo_collection()
    database = collection.database
    if database.name in _noted:
        return
    with contextlib.suppress(DuplicateKeyError):
        await database[MINUTES].insert_one({"_id": "since", "at": datetime.now(UTC)})
    _noted.add(database.name)


def _entry(envelope: Envelope) -> JournalEntry:
    return JournalEntry(
        id=envelope.id,
        type=envelope.type,
        source=envelope.source,
        time=envelope.time,
        correlationid=envelope.correlationid,
        causationid=envelope.causationid,
        envelope=envelope.model_dump(mode="json", exclude_none=True),
    )


async def record(envelope: Envelope) -> bool:
    """Append an envelope; False if the event id is already there (a redelivery)."""
    await _note_minutes()
    try:
        await _entry(envelope).insert()
    except DuplicateKeyError:
        return False
    return True


async def record_many(envelopes: list[Envelope]) -> list[bool]:
    """Append envelopes in one unordered ``insert_many``; for each, as :func:`record`
    answers: False if its event id was already there (a redelivery, or the same id twice
    in ``envelopes``). Any error but a duplicate key is raised: then no answer is known
    for any of them (some may be stored, which a retry finds as duplicates)."""
    if not envelopes:
        return []
    await _note_minutes()
    try:
        await JournalEntry.insert_many([_entry(e) for e in envelopes], ordered=False)
    except BulkWriteError as error:
        recorded = [True] * len(envelopes)
        for write_error in error.details.get("writeErrors", []):
            if write_error.get("code") != _DUPLICATE_KEY:
                raise
            recorded[write_error["index"]] = False
        if error.details.get("writeConcernErrors"):
            raise
        return recorded
    return [True] * len(envelopes)


async def latest(*, event_type: str | None = None, limit: int = 20) -> list[JournalEntry]:
    """The newest recorded entries first, optionally of one type only."""
    query = (
        JournalEntry.find(JournalEntry.type == event_type) if event_type else JournalEntry.find()
    )
    return await query.sort(-JournalEntry.recorded_at).limit(limit).to_list()  # type: ignore[operator]


async def since(types: list[str], moment: datetime) -> list[JournalEntry]:
    """Entries of the given types recorded at or after ``moment``, oldest first.

    Read minute by minute and type by type (one pair of equalities each, a few at a time)
    when the window is at most :data:`MAX_MINUTES` long and starts an
    :data:`UPGRADE_GRACE` after the journal began naming minutes; otherwise with one
    query that FerretDB 1.24 answers by reading the whole journal.
    """
    moment = _aware(moment)
    end = datetime.now(UTC) + CLOCK_MARGIN
    count = int((end - moment).total_seconds() // 60) + 1
    noted = await JournalEntry.get_pymongo_collection().database[MINUTES].find_one({"_id": "since"})
    if noted is None or moment < _aware(noted["at"]) + UPGRADE_GRACE or count > MAX_MINUTES:
        query = JournalEntry.find(In(JournalEntry.type, types), JournalEntry.recorded_at >= moment)
        return await query.sort(+JournalEntry.recorded_at).to_list()  # type: ignore[operator]
    minutes = [minute_of(moment + timedelta(minutes=n)) for n in range(count + 1)]
    pairs = [{"minute": m, "type": t} for m in minutes for t in sorted(set(types))]
    found: list[JournalEntry] = []
    for start in range(0, len(pairs), 16):
        reads = [JournalEntry.find(pair).to_list() for pair in pairs[start : start + 16]]
        for entries in await asyncio.gather(*reads):
            found += [e for e in entries if _aware(e.recorded_at) >= moment]
    return sorted(found, key=lambda e: (e.recorded_at, e.id))


def _aware(moment: datetime) -> datetime:
    # MongoDB keeps UTC without a zone: what comes back is naive.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def chain(correlation_id: str) -> list[JournalEntry]:
    """Every recorded event of one causal chain, oldest first.

    An event's chain is its ``correlationid``; an event without one (from a producer
    outside the bus) starts its own chain: its own id is its correlation id
    (:attr:`bus.envelope.Envelope.correlation`), and the events its handlers publish carry
    that id as their ``correlationid``.
    """
    # Two reads of plain equalities rather than one $or: FerretDB 1.24 hands PostgreSQL
    # only plain equalities, and reads the whole journal for an $or (21 s at 92,000).
    found = await JournalEntry.find({"correlationid": correlation_id}).to_list()
    first = await JournalEntry.get(correlation_id)
    if first is not None and first.correlationid is None:
        found.append(first)
    return sorted(found, key=lambda entry: (entry.time, entry.id))
