"""Each document's log of applied events, in numbered slots read by ``_id`` alone.

FerretDB 1.24 on SQLite answers a filter on any field but ``_id`` by reading the
whole collection: reading a document's log by ``document_id`` took 100 ms at
3,000 logged events and 320 ms at 10,000, twice per event. An ``_id`` that
exists is found in about 2 ms at any size; one that does not exist costs a scan
as well (11 ms at 3,000, 27 ms at 10,000: the server seems to look again the
slow way before it answers "none"). So the log lives in slots ``<document id>/0``,
``/1``, …, read one after another until the first missing one, and an event is
applied with two misses in the usual case: the end of the log before appending,
and the check that nothing was appended after it. Appends stay atomic: an insert
of a taken slot fails.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from uuid import UUID

from pymongo.errors import DuplicateKeyError

from services.catalog.models import AppliedEvent, AppliedEventBase, LoggedEvent

log = logging.getLogger("services.catalog")


def slot_id(document_id: UUID, n: int) -> str:
    """The id of slot ``n`` of ``document_id``'s log."""
    return f"{document_id}/{n}"


async def read_log(
    document_id: UUID, known: Sequence[AppliedEventBase] = ()
) -> list[AppliedEventBase]:
    """Every event in the log of ``document_id``, in the order they were appended, given
    the ``known`` first ones (they are not read again).

    A copy of an event applied twice at once (two replicas) may appear twice.
    """
    events = list(known)
    while (slot := await LoggedEvent.get(slot_id(document_id, len(events)))) is not None:
        events.append(slot.event)  # slots have no gaps: the first missing one ends the log
    return events


async def append(
    document_id: UUID, event: AppliedEventBase, log: Sequence[AppliedEventBase]
) -> list[AppliedEventBase]:
    """Append ``event`` to the log whose first slots hold ``log``; returns the log as far
    as it is known now: ``log``, whatever others appended meanwhile, and ``event``."""
    known = list(log)
    while True:
        try:
            await LoggedEvent(id=slot_id(document_id, len(known)), event=event).insert()
        except DuplicateKeyError:
            taken = await LoggedEvent.get(slot_id(document_id, len(known)))
            if taken is None:  # only if someone emptied the log meanwhile
                continue
            known.append(taken.event)
            if taken.event.id == event.id:
                return known  # another copy of the event got there first
        else:
            known.append(event)
            return known


async def has_more_than(document_id: UUID, count: int) -> bool:
    """Whether the log of ``document_id`` holds more than ``count`` slots."""
    return await LoggedEvent.get(slot_id(document_id, count)) is not None


async def adopt_applied_events() -> int:
    """Copy the log of a catalog from before the slots (``catalog_applied``) into slots,
    once: only while ``catalog_log`` is empty. Returns the number of events copied.

    Replicas starting together copy the same events into the same slots, so a slot
    another replica wrote first is left as it is.
    """
    if await LoggedEvent.find_one({}) is not None or await AppliedEvent.find_one({}) is None:
        return 0
    by_document: defaultdict[UUID, list[AppliedEvent]] = defaultdict(list)
    async for applied in AppliedEvent.find_all():
        by_document[applied.document_id].append(applied)
    copied = 0
    for document_id, events in by_document.items():
        ordered = sorted(events, key=lambda e: (e.recorded_at, e.id))
        for n, applied in enumerate(ordered):
            event = AppliedEventBase.model_validate(applied.model_dump())
            try:
                await LoggedEvent(id=slot_id(document_id, n), event=event).insert()
            except DuplicateKeyError:
                continue
            copied += 1
    log.info("catalog: adopted %d logged event(s) of %d document(s)", copied, len(by_document))
    return copied
