"""A document's catalog entry, folded from the events applied to it (pure, no store).

The fold depends only on the set of events, not on the order they arrived in,
so replicas that handle a document's events in any order, or twice, agree:

* every fact (owner, filename…) comes from the earliest event that carries it;
* the status is the one of highest rank; among terminal events (ready, rejected,
  failed), which the choreography does not produce together, the earliest wins;
* the timeline lists every event once, by event time.

Since events are only ever added, the rank of the result never goes down.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from services.catalog.models import (
    STATUS_RANK,
    AppliedEvent,
    CatalogEntry,
    Status,
    TimelineEntry,
)

_FACTS = (
    "owner",
    "owner_email",
    "filename",
    "declared_content_type",
    "size_bytes",
    "storage_url",
)


def project(document_id: UUID, applied: Iterable[AppliedEvent]) -> CatalogEntry:
    """The entry of ``document_id`` after ``applied`` (at least one event of it)."""
    events = sorted(applied, key=lambda e: (e.at, e.id))
    if not events:
        msg = f"no event of document {document_id} to build its entry from"
        raise ValueError(msg)

    facts: dict[str, Any] = {}
    for event in events:
        for name in _FACTS:
            value = event.facts.get(name)
            if value is not None:
                facts.setdefault(name, value)

    deciding = _deciding(events)
    status: Status = deciding.status if deciding and deciding.status else "uploaded"
    inspected = [e.inspection for e in events if e.inspection is not None]
    percents = [e.percent for e in events if e.percent is not None]
    if status == "ready":
        progress: float | None = 100.0
    else:
        progress = max(percents) if percents else None

    return CatalogEntry(
        id=document_id,
        **facts,
        status=status,
        rank=STATUS_RANK[status],
        status_event_id=deciding.id if deciding else None,
        reason=deciding.reason if deciding and status in ("rejected", "failed") else None,
        inspection=inspected[-1] if inspected else None,
        progress=progress,
        timeline=[
            TimelineEntry(
                at=e.at,
                event_id=e.id,
                event_type=e.event_type,
                status=e.status,
                message=e.message,
                percent=e.percent,
            )
            for e in events
        ],
        created_at=min(e.recorded_at for e in events),
        updated_at=max(e.recorded_at for e in events),
    )


def _deciding(events: list[AppliedEvent]) -> AppliedEvent | None:
    """The event whose status stands: highest rank first, then the earliest."""
    with_status = [e for e in events if e.status is not None]
    if not with_status:
        return None
    # ``events`` is in time order and min() keeps the first of equals.
    return min(with_status, key=lambda e: -STATUS_RANK[e.status] if e.status else 0)
