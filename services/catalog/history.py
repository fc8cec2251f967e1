"""Each document's log of applied events (``catalog_events``), read with one query.

One record per event, keyed by the event id, so an event is logged once however often
it comes (an insert of an id that is there fails, atomically, on FerretDB 1.24 as on
MongoDB). A document's log is read by ``document``, its id as text, which FerretDB 1.24
on PostgreSQL has PostgreSQL filter (``explain``: ``filterPushdown``), instead of reading
the whole collection as it did on SQLite: that is why earlier versions kept the log in
slots read by ``_id`` one after another (``catalog_log``), and, before that, in
``catalog_applied``. Both are adopted once, when the catalog starts.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from beanie.odm.utils.encoder import Encoder
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.catalog.models import AppliedEvent, AppliedEventBase, CatalogEntry, LoggedEvent

log = logging.getLogger("services.catalog")

SLOTS: str = "catalog_log"
"""The slot log of the versions before: ``{"_id": "<document id>/<n>", "event": ...}``."""

REKEY: str = "catalog_rekey"
"""Keyed copies of earlier entries while they are rewritten (see ``_key_old_entries``)."""

_DUPLICATE_KEY = 11000
_BATCH = 500


def log_filter(document_id: UUID) -> dict[str, Any]:
    """The filter of ``document_id``'s log: one equality on a string."""
    return {"document": str(document_id)}


async def read_log(document_id: UUID) -> list[AppliedEventBase]:
    """Every event applied to ``document_id``, in the order the catalog received them."""
    logged = await LoggedEvent.find(log_filter(document_id)).to_list()
    events = [AppliedEventBase.model_validate(e.model_dump(exclude={"document"})) for e in logged]
    return sorted(events, key=lambda e: (e.recorded_at, e.id))


async def append(event: AppliedEventBase) -> bool:
    """Log ``event``; False if an event with its id is logged already."""
    try:
        await LoggedEvent.model_validate(event.model_dump()).insert()
    except DuplicateKeyError:
        return False
    return True


async def adopt_earlier_logs() -> int:
    """Copy the log of a catalog kept by an earlier version (the slots of ``catalog_log``,
    or the records of ``catalog_applied``) into ``catalog_events``, once: only while that
    is empty. Also gives entries written before ``key`` existed their key. Returns the
    number of events copied.

    Replicas starting together copy the same events: an event logged already is left
    as it is.
    """
    await _key_old_entries()
    if await LoggedEvent.find_one({}) is not None:
        return 0
    database = LoggedEvent.get_pymongo_collection().database
    copied: list[AppliedEventBase] = []
    async for slot in database[SLOTS].find({}):
        copied.append(AppliedEventBase.model_validate(slot["event"]))
    async for applied in AppliedEvent.find_all():
        copied.append(AppliedEventBase.model_validate(applied.model_dump()))
    adopted = 0
    for start in range(0, len(copied), _BATCH):
        batch = [LoggedEvent.model_validate(e.model_dump()) for e in copied[start : start + _BATCH]]
        try:
            await LoggedEvent.insert_many(batch, ordered=False)
        except BulkWriteError as error:
            adopted -= _only_duplicates(error)
        adopted += len(batch)
    if copied:
        documents = len({e.document_id for e in copied})
        log.info("catalog: adopted %d logged event(s) of %d document(s)", adopted, documents)
    return adopted


async def _key_old_entries() -> None:
    """Rewrite the entries written before ``key`` existed, all at once.

    Saving each one by its ``_id`` would cost FerretDB 1.24 a read of every entry per
    entry (it filters a UUID ``_id`` itself): minutes at 10,000. So: one read, the keyed
    copies kept aside in ``catalog_rekey`` first, then one delete and one insert; a
    start that finds copies aside (an earlier start stopped between) finishes from them.
    """
    database = CatalogEntry.get_pymongo_collection().database
    aside = database[REKEY]
    kept = await aside.find({}).to_list()
    if not kept:
        old = await CatalogEntry.find({"key": {"$exists": False}}).to_list()
        if not old:
            return
        kept = [Encoder().encode(entry) for entry in old]  # as Beanie stores them
        await aside.insert_many(kept, ordered=False)
    await CatalogEntry.find({"key": {"$exists": False}}).delete()
    try:
        await CatalogEntry.get_pymongo_collection().insert_many(kept, ordered=False)
    except BulkWriteError as error:
        _only_duplicates(error)  # already put back by an earlier start
    await aside.drop()
    log.info("catalog: %d entr(ies) from an earlier version given their key", len(kept))


def _only_duplicates(error: BulkWriteError) -> int:
    """How many inserts failed as duplicates; ``error`` again if any failed otherwise."""
    errors: list[dict[str, Any]] = error.details.get("writeErrors", [])
    if any(e.get("code") != _DUPLICATE_KEY for e in errors):
        raise error
    if error.details.get("writeConcernErrors"):
        raise error
    return len(errors)
