"""A document's catalog entry, folded from the events applied to it (pure, no store).

What decides is the order in which the catalog *received* events (``recorded_at``,
the catalog's own clock), never the ``time`` a sender wrote into an envelope: anyone
who can publish can write any time. The fold depends only on the set of events, not on
the order they are passed in, so replicas that read the same log agree:

* the owner, file name, declared type, size and storage URL come only from the upload
  (the one event the catalog records with status ``uploaded``: the gateway's
  DocumentUploaded), the first one received; other events may name an owner and are
  not believed. Until the upload is in, the entry has no owner: no one can read it and
  it is never announced ready;
* ``owner_email`` comes from the upload or, failing that, from the first received event
  that carries one (accounts adds it to its events); nothing mails it: the notifier
  asks accounts;
* the status is the one of highest rank; among terminal events (ready, rejected,
  failed), which the choreography does not produce together, the first received wins;
* the timeline lists every event once in event time, for people to read, each with the
  status the document had once it happened; a terminal event that lost counts for none.

Since events are only ever added, the rank of the result never goes down.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from services.catalog.models import (
    STATUS_RANK,
    TERMINAL_STATUSES,
    AppliedEventBase,
    CatalogEntryBase,
    Status,
    TimelineEntry,
)

UPLOAD_FACTS = (
    "owner", "filename", "declared_content_type", "size_bytes", "storage_url", "locale",
    "user_agent",
)  # fmt: skip
"""What only the upload tells: whose document it is, and which bytes."""


def project(document_id: UUID, applied: Iterable[AppliedEventBase]) -> CatalogEntryBase:
    """The entry of ``document_id`` after ``applied`` (at least one event of it)."""
    received = sorted(applied, key=lambda e: (e.recorded_at, e.id))
    if not received:
        msg = f"no event of document {document_id} to build its entry from"
        raise ValueError(msg)

    # The status: the highest rank, the first received of equals (so the first terminal
    # status stays, whatever time a later event claims).
    deciding: AppliedEventBase | None = None
    for event in received:
        if event.status is not None and (
            deciding is None or STATUS_RANK[event.status] > STATUS_RANK[_status(deciding)]
        ):
            deciding = event
    status = _status(deciding)

    timeline = []
    shown: AppliedEventBase | None = None
    for event in sorted(received, key=lambda e: (e.at, e.id)):
        if _counts(event, deciding) and (
            shown is None or STATUS_RANK[_status(event)] > STATUS_RANK[_status(shown)]
        ):
            shown = event
        timeline.append(
            TimelineEntry(
                at=event.at,
                event_id=event.id,
                event_type=event.event_type,
                status=_status(shown),
                message=event.message,
                percent=event.percent,
            )
        )

    inspection = deciding.inspection if deciding is not None else None
    if inspection is None:
        inspection = next((e.inspection for e in received if e.inspection is not None), None)
    percents = [e.percent for e in received if e.percent is not None]
    if status == "ready":
        progress: float | None = 100.0
    else:
        progress = max(percents) if percents else None

    return CatalogEntryBase(
        id=document_id,
        **_facts(received),
        status=status,
        rank=STATUS_RANK[status],
        status_event_id=deciding.id if deciding else None,
        reason=deciding.reason if deciding and status in ("rejected", "failed") else None,
        inspection=inspection,
        progress=progress,
        timeline=timeline,
        created_at=received[0].recorded_at,
        updated_at=max(e.recorded_at for e in received),
    )


def _facts(received: Sequence[AppliedEventBase]) -> dict[str, Any]:
    """The facts of the first received upload, and an address (see the module docstring)."""
    upload = next((e for e in received if e.status == "uploaded"), None)
    facts: dict[str, Any] = {}
    if upload is not None:
        facts = {name: upload.facts[name] for name in UPLOAD_FACTS if name in upload.facts}
    emails = (e.facts.get("owner_email") for e in ([upload] if upload else []) + [*received])
    facts["owner_email"] = next((email for email in emails if email is not None), None)
    return facts


def _counts(event: AppliedEventBase, deciding: AppliedEventBase | None) -> bool:
    """Whether ``event``'s status shows in the timeline: a terminal one only if it won."""
    if event.status is None:
        return False
    won = deciding is not None and event.id == deciding.id
    return won or event.status not in TERMINAL_STATUSES


def _status(event: AppliedEventBase | None) -> Status:
    """The status an event stands for; a document nothing has moved yet is ``uploaded``
    (any event about a document means that it was uploaded, or claims so)."""
    return event.status if event is not None and event.status is not None else "uploaded"
