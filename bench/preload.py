"""A loaded stack for the end-to-end steps: catalog documents and journal entries, added
to the collections the running services use, and taken out again afterwards.

Everything added belongs to a user the bench creates (``bench-preload-<run>@example.com``):
catalog entries owned by that user (each with the five events of its log, as the catalog
keeps them), and journal entries whose ``source`` is ``/bench-preload/<run>/<part>``, dated 30
days back so that no service's catch-up (which reads only the last moments before a
reconnection) delivers them. Each record names its part of 5,000 (``bench-preload/<run>/<n>``
in the catalog entry's file name, its log's message, the journal entry's source); on the
way out, those and only those are deleted, a part at a time. The user stays in the
accounts database, as the users of earlier runs do, with the documents its uploads
created.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
from rich.console import Console

from bus import BusSettings, Envelope
from bus.journal import JournalEntry
from bus.mongo import connect_mongo, release_mongo
from services.accounts import create_user
from services.catalog import AppliedEventBase, CatalogEntry, LoggedEvent, TimelineEntry
from tests.ferretdb import backend, on_postgresql
from tests.helpers import uploaded

BATCH = 1000
PART = 25_000
"""Records deleted at once, at most: FerretDB 1.24 on SQLite fails a delete of ~100,000
("too many SQL variables"), and reads the whole collection for each delete (an ``$in`` of
ids is slower still), so the fewer deletes the better."""

PRELOADED = ("catalog", "catalog_events", "journal")
"""The collections a preload fills: vacuumed after it and after its cleanup."""

STORY = ("uploaded", "accepted", "inspecting", "inspecting", "ready")
T = TypeVar("T")


@dataclass
class Loaded:
    """What the preload added, and the bench user it belongs to."""

    run: str
    user_id: str
    email: str
    api_key: str
    documents: list[uuid.UUID] = field(default_factory=list)
    catalog_documents: int = 0
    catalog_log_entries: int = 0
    journal_entries: int = 0
    seconds: float = 0.0
    settle_seconds: float | None = None
    cleanup_seconds: float = 0.0
    left_behind: list[str] = field(default_factory=list)
    not_vacuumed: str | None = None
    """Why the tables were not vacuumed after the cleanup, if they were not."""

    def tag(self, part: int) -> str:
        """What the records of one part say (in the catalog's file name and log message,
        and the journal's source): what deletes them, a part at a time."""
        return f"bench-preload/{self.run}/{part}"

    def summary(self) -> dict[str, Any]:
        return {
            "catalog_documents": self.catalog_documents,
            "catalog_log_entries": self.catalog_log_entries,
            "journal_entries": self.journal_entries,
            "seconds": round(self.seconds, 1),
            "vacuum_analyze_seconds": (
                None if self.settle_seconds is None else round(self.settle_seconds, 1)
            ),
        }


def _batches(items: Iterator[T], size: int = BATCH) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _entry(document_id: uuid.UUID, owner: str, email: str, at: datetime, tag: str) -> CatalogEntry:
    timeline = [
        TimelineEntry(at=at, event_id=str(uuid.uuid4()), event_type="bench.preloaded.v1",
                      status=status, message="preloaded")
        for status in dict.fromkeys(STORY)
    ]  # fmt: skip
    return CatalogEntry(
        id=document_id, owner=owner, owner_email=email, filename=f"{tag}.txt",
        declared_content_type="text/plain", size_bytes=100,
        storage_url=f"file:///nonexistent/bench/{document_id}", status="ready", rank=3,
        inspection={"content_type": "text/plain", "language": "en", "word_count": 20},
        timeline=timeline, created_at=at, updated_at=at,
    )  # fmt: skip


# The catalog's log is moving from numbered slots (``{"_id": "<document>/<n>", "event":
# {...}}`` in ``catalog_log``) to one record per event (``catalog_events``): both layouts
# are written here, whichever LoggedEvent is, until the slots are gone.
SLOTS = "event" in LoggedEvent.model_fields
MESSAGE = "event.message" if SLOTS else "message"


def _log(document_id: uuid.UUID, owner: str, at: datetime, message: str) -> list[LoggedEvent]:
    events = [
        AppliedEventBase(
            id=str(uuid.uuid4()), document_id=document_id, event_type="bench.preloaded.v1",
            at=at, status=status, facts={"owner": owner}, message=message, recorded_at=at,
        )
        for status in STORY
    ]  # fmt: skip
    return [logged(event, n) for n, event in enumerate(events)]


def logged(event: AppliedEventBase, n: int) -> LoggedEvent:
    """``event`` as the ``n``-th record of its document's log, in the catalog's layout."""
    if SLOTS:
        return LoggedEvent.model_validate({"id": f"{event.document_id}/{n}", "event": event})
    return LoggedEvent.model_validate(event.model_dump())


def _journal(loaded: Loaded, count: int, since: datetime) -> Iterator[JournalEntry]:
    for n in range(count):
        source = f"/{loaded.tag(n // PART)}"
        envelope = Envelope.wrap(uploaded(n), source=source)
        at = since + timedelta(milliseconds=n)
        yield JournalEntry(
            id=envelope.id, type=envelope.type, source=source, time=at,
            correlationid=envelope.correlationid, causationid=envelope.causationid,
            envelope=envelope.model_dump(mode="json", exclude_none=True), recorded_at=at,
        )  # fmt: skip


@contextlib.asynccontextmanager
async def preloaded(
    settings: BusSettings,
    documents: int,
    journal: int,
    *,
    max_documents: int,
    clean_within: float = 300,
    progress: Callable[[str], None] = lambda _: None,
) -> AsyncIterator[Loaded]:
    """A bench user owning ``documents`` ready catalog documents, and ``journal`` more
    journal entries, in the services' MongoDB database (``settings.mongo_url``); all of
    it deleted on the way out, for ``clean_within`` seconds at most: what is left then is
    named in ``left_behind`` (``python -m bench.preload --clean`` deletes it). The user
    may upload ``max_documents`` documents."""
    run = uuid.uuid4().hex[:8]
    email = f"bench-preload-{run}@example.com"
    user = await create_user(settings.postgres_url, email, max_documents=max_documents)
    loaded = Loaded(run=run, user_id=user.user_id, email=email, api_key=user.api_key)
    client = await connect_mongo(settings.mongo_url, [CatalogEntry, LoggedEvent, JournalEntry])
    started = time.perf_counter()
    try:
        at = datetime.now(UTC) - timedelta(days=30)
        ids = (uuid.uuid4() for _ in range(documents))
        # A part: PART log entries, of PART // len(STORY) documents (BATCH divides it).
        for n, batch in enumerate(_batches(ids)):
            tag = loaded.tag(n * BATCH * len(STORY) // PART)
            await CatalogEntry.insert_many([_entry(d, user.user_id, email, at, tag) for d in batch])
            await LoggedEvent.insert_many(
                [e for d in batch for e in _log(d, user.user_id, at, tag)]
            )
            loaded.documents += batch
            loaded.catalog_documents += len(batch)
            loaded.catalog_log_entries += len(batch) * len(STORY)
            progress(f"{loaded.catalog_documents:,} of {documents:,} catalog documents")
        for entries in _batches(_journal(loaded, journal, at)):
            await JournalEntry.insert_many(entries)
            loaded.journal_entries += len(entries)
            progress(f"{loaded.journal_entries:,} of {journal:,} journal entries")
        loaded.seconds = time.perf_counter() - started
        progress("VACUUM ANALYZE of the preloaded tables")
        loaded.settle_seconds = await settle(settings, PRELOADED)
        yield loaded
    finally:
        started = time.perf_counter()
        try:
            await _clean(loaded, progress, time.monotonic() + clean_within)
            # Vacuumed now rather than by autovacuum during the next step or run (a run
            # started minutes after another's cleanup gave the gateway 440 requests/s, the
            # runs around it 560 to 650).
            progress("VACUUM ANALYZE after deleting what was preloaded")
            try:
                await settle(settings, PRELOADED)
            except (OSError, asyncpg.PostgresError) as exc:  # the step's result stands
                loaded.not_vacuumed = f"{type(exc).__name__}: {exc}"
        finally:
            loaded.cleanup_seconds = time.perf_counter() - started
            await release_mongo(settings.mongo_url)
            del client


async def settle(settings: BusSettings, collections: tuple[str, ...]) -> float | None:
    """``VACUUM ANALYZE`` FerretDB's PostgreSQL tables of ``collections``, as autovacuum
    does some time after a bulk load: measured right after 160,000 inserts, the gateway
    shared two cores with autovacuum (PostgreSQL 0.8 of a core during its load). The
    seconds it took; None if the store is not FerretDB on the stack's PostgreSQL."""
    if not on_postgresql(settings):
        return None
    started = time.perf_counter()
    async with backend(settings) as ferretdb:
        for collection in collections:
            if table := await ferretdb.table(collection):
                await ferretdb.pg.execute(f'VACUUM (ANALYZE) "{ferretdb.schema}"."{table}"')
    return time.perf_counter() - started


async def _clean(loaded: Loaded, progress: Callable[[str], None], deadline: float) -> None:
    catalog = CatalogEntry.get_pymongo_collection()
    log = LoggedEvent.get_pymongo_collection()
    journal = JournalEntry.get_pymongo_collection()
    parts = [
        *((tag, catalog, {"owner": loaded.user_id, "filename": f"{tag}.txt"}) for tag in
          map(loaded.tag, range(-(-loaded.catalog_log_entries // PART)))),
        *((tag, log, {MESSAGE: tag}) for tag in
          map(loaded.tag, range(-(-loaded.catalog_log_entries // PART)))),
        *((tag, journal, {"source": f"/{tag}"}) for tag in
          map(loaded.tag, range(-(-loaded.journal_entries // PART)))),
    ]  # fmt: skip
    for n, (tag, collection, query) in enumerate(parts):
        if time.monotonic() > deadline:
            loaded.left_behind.append(f"{collection.name}: {tag}")
            continue
        progress(f"deleting what was preloaded, {n + 1} of {len(parts)} ({collection.name})")
        await collection.delete_many(query)


async def clean_leftovers(settings: BusSettings, progress: Callable[[str], None]) -> int:
    """Delete whatever an interrupted or hurried bench left preloaded; how many records."""
    await connect_mongo(settings.mongo_url, [CatalogEntry, LoggedEvent, JournalEntry])
    deleted = 0
    try:
        tagged = {"$regex": "^/?bench-preload/"}
        for model, field_name in (
            (CatalogEntry, "filename"), (LoggedEvent, MESSAGE), (JournalEntry, "source")
        ):  # fmt: skip
            collection = model.get_pymongo_collection()
            progress(f"looking for preloaded records in {collection.name}")
            for value in await collection.distinct(field_name, {field_name: tagged}):
                progress(f"deleting {value} from {collection.name}")
                # One delete of more than PART records fails on FerretDB (SQLite: too many
                # SQL variables; PostgreSQL: more than 65,535 parameters).
                while ids := [
                    record["_id"]
                    async for record in collection.find({field_name: value}, {"_id": 1}).limit(PART)
                ]:
                    deleted += (await collection.delete_many({"_id": {"$in": ids}})).deleted_count
    finally:
        await release_mongo(settings.mongo_url)
    return deleted


def main() -> None:
    """``python -m bench.preload --clean``."""
    parser = argparse.ArgumentParser(prog="python -m bench.preload", description=__doc__)
    parser.add_argument(
        "--clean", action="store_true", required=True,
        help="delete what a bench left preloaded in the services' database",
    )  # fmt: skip
    parser.parse_args()
    console = Console()
    with console.status("…") as status:
        deleted = asyncio.run(clean_leftovers(BusSettings(), status.update))
    console.print(f"deleted {deleted:,} preloaded records")


if __name__ == "__main__":
    main()
