"""What applying one event costs the catalog as it grows, on the stack's MongoDB server.

At each size the catalog holds that many logged events of other documents, and one entry
for every five of them. Timed side by side: a document's log read by ``document`` (the
id as text, as the catalog reads it) and by ``document_id`` (a UUID, as the first
versions did); an entry written by ``key`` (``bus.mongo.save_by_key``, as the catalog
writes it) and by its UUID ``_id`` (``Document.save()``, as it did until FerretDB 1.24
on PostgreSQL was found to read every entry for it).
"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.preload import logged
from bus import BusSettings
from bus.mongo import connect_mongo, release_mongo, save_by_key
from contracts import DocumentInspected, DocumentUploaded, JobProgressed, QuotaReserved
from services.catalog import (
    AppliedEvent,
    AppliedEventBase,
    CatalogEntry,
    LoggedEvent,
    entry_of,
    read_log,
    updates,
)
from services.catalog.projection import project

DOCUMENTS = 20
"""Documents applied (five events each) at every size of the log."""


async def catalog_cost(settings: BusSettings, sizes: tuple[int, ...]) -> dict[str, Any]:
    """Milliseconds per applied event with ``size`` events of other documents logged, and
    the time of one log read (the catalog's, and by ``document_id``) at that size."""
    database = f"chorus_bench_catalog_{uuid.uuid4().hex[:8]}"
    url = urlunsplit(urlsplit(settings.mongo_url)._replace(path=f"/{database}"))
    client = await connect_mongo(url, [CatalogEntry, LoggedEvent, AppliedEvent])
    results: dict[str, Any] = {"events_per_document": 5, "documents": DOCUMENTS}
    try:
        logged = 0
        for size in sizes:
            await _fill(size - logged)
            logged = size
            per_event, last = await _apply_documents()
            logged += 5 * DOCUMENTS
            results[f"apply_ms_at_{size}"] = per_event
            results[f"read_log_ms_at_{size}"] = await _timed(lambda d=last: read_log(d))
            results[f"read_by_filter_ms_at_{size}"] = await _timed(
                lambda d=last: AppliedEvent.find(AppliedEvent.document_id == d).to_list()
            )
            entry = await entry_of(last)
            assert entry is not None
            results[f"save_by_key_ms_at_{size}"] = await _timed(lambda e=entry: save_by_key(e))
            results[f"save_by_id_ms_at_{size}"] = await _timed(lambda e=entry: e.save())
    finally:
        await client.drop_database(database)
        await release_mongo(url)
    return results


async def _fill(count: int) -> None:
    """``count`` logged events of other documents, in both the log and the old one, and an
    entry for every five of them."""
    if count <= 0:
        return
    events = [_filler(datetime.now(UTC)) for _ in range(count)]
    await LoggedEvent.insert_many([logged(event, 0) for event in events])
    await AppliedEvent.insert_many([AppliedEvent(**event.model_dump()) for event in events])
    entries = [project(e.document_id, [e]) for e in events[::5]]
    await CatalogEntry.insert_many([CatalogEntry(**e.model_dump()) for e in entries])


def _filler(now: datetime) -> AppliedEventBase:
    return AppliedEventBase(
        id=str(uuid.uuid4()), document_id=uuid.uuid4(), event_type="bench.filled.v1", at=now,
        status="uploaded", facts={"owner": "bench"}, message="filler", recorded_at=now,
    )  # fmt: skip


async def _apply_documents() -> tuple[float, uuid.UUID]:
    """Apply a document's five events for each of ``DOCUMENTS`` documents, one after
    another; the mean milliseconds per event, and the last document's id."""
    times: list[float] = []
    document_id = uuid.uuid4()
    for _ in range(DOCUMENTS):
        document_id = uuid.uuid4()
        for apply in _story(document_id):
            started = time.perf_counter()
            await apply()
            times.append(time.perf_counter() - started)
        # The old log, for the side-by-side read: the same events by event id.
        for event in await read_log(document_id):
            await AppliedEvent(**event.model_dump()).insert()
    return round(1000 * statistics.fmean(times), 2), document_id


def _story(document_id: uuid.UUID) -> list[Any]:
    at = datetime.now(UTC)
    common = {"document_id": document_id, "owner": "bench", "filename": "bench.txt"}
    url = f"file:///tmp/chorus-bench/{document_id}"
    key = str(document_id)
    uploaded = DocumentUploaded(**common, size_bytes=10, content_type="text/plain", storage_url=url)
    reserved = QuotaReserved(
        **common, size_bytes=10, content_type="text/plain", storage_url=url,
        documents_used=1, bytes_used=10,
    )  # fmt: skip

    def progressed(percent: float) -> JobProgressed:
        return JobProgressed(
            job_id=f"inspector:inspect_document:{key}", service="inspector",
            job="inspect_document", key=key, percent=percent,
        )  # fmt: skip

    inspected = DocumentInspected(
        **common, content_type="text/plain", sha256="0" * 64, size_bytes=10, language="en",
        word_count=2,
    )  # fmt: skip
    ids = [str(uuid.uuid4()) for _ in range(5)]
    return [
        lambda: updates.apply_uploaded(uploaded, event_id=ids[0], at=at),
        lambda: updates.apply_quota_reserved(reserved, event_id=ids[1], at=at),
        lambda: updates.apply_job_progressed(progressed(30), event_id=ids[2], at=at),
        lambda: updates.apply_job_progressed(progressed(80), event_id=ids[3], at=at),
        lambda: updates.apply_inspected(inspected, event_id=ids[4], at=at),
    ]


async def _timed(read: Any, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await read()
        times.append(time.perf_counter() - started)
    return round(1000 * statistics.median(times), 2)
