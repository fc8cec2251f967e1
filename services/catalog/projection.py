"""A document's catalog entry, folded from the events applied to it (pure, no store).

The fold depends only on the set of events, not on the order they arrived in,
so replicas that handle a document's events in any order, or twice, agree:

* every fact (owner, filename…) comes from the earliest event that carries it;
* the status is the one of highest rank; among terminal events (ready, rejected,
  failed), which the choreography does not produce together, the earliest wins;
* the timeline lists every event once, by event time, each with the status the
  document had once it happened.

Since events are only ever added, the rank of the result never goes down.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from services.catalog.models import (
    STATUS_RANK,
    AppliedEventBase,
    CatalogEntryBase,
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


def project(document_id: UUID, applied: Iterable[AppliedEventBase]) -> CatalogEntryBase:
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

    # Walk the events in time order: the status after each is the one of the highest
    # rank so far, the earliest of equals (so the first terminal status stays).
    deciding: AppliedEventBase | None = None
    timeline = []
    for event in events:
        if event.status is not None and (
            deciding is None or STATUS_RANK[event.status] > STATUS_RANK[_status(deciding)]
        ):
            deciding = event
        timeline.append(
            TimelineEntry(
                at=event.at,
                event_id=event.id,
                event_type=event.event_type,
                status=_status(deciding),
                message=event.message,
                percent=event.percent,
            )
        )

    status = _status(deciding)
    inspected = [e.inspection for e in events if e.inspection is not None]
    percents = [e.percent for e in events if e.percent is not None]
    if status == "ready":
        progress: float | None = 100.0
    else:
        progress = max(percents) if percents else None

    return CatalogEntryBase(
        id=document_id,
        **facts,
        status=status,
        rank=STATUS_RANK[status],
        status_event_id=deciding.id if deciding else None,
        reason=deciding.reason if deciding and status in ("rejected", "failed") else None,
        inspection=inspected[-1] if inspected else None,
        progress=progress,
        timeline=timeline,
        created_at=min(e.recorded_at for e in events),
        updated_at=max(e.recorded_at for e in events),
    )


def _status(event: AppliedEventBase | None) -> Status:
    """The status an event stands for; a document nothing has moved yet is ``uploaded``
    (any event about a document means that it was uploaded)."""
    return event.status if event is not None and event.status is not None else "uploaded"
