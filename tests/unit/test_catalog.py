"""The catalog's fold and key cleaning, without a store or a broker."""

from __future__ import annotations

import importlib
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import DocumentUploaded, JobProgressed
from services.catalog import (
    STATUSES,
    TERMINAL_STATUSES,
    AppliedEventBase,
    Status,
    create_service,
)
from services.catalog.models import STATUS_RANK
from services.catalog.projection import project
from services.catalog.updates import apply_job_progressed, storable

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DOC = uuid.UUID("9b2f0b7e-4a51-4c1e-9d57-0f6b5b7a1e11")


def applied(
    n: int, status: Status | None, *, arrived: int | None = None, **fields: Any
) -> AppliedEventBase:
    """The n-th event of DOC, happened at T0 + n s, recorded at T0 + arrived s."""
    return AppliedEventBase(
        id=f"e{n}",
        document_id=DOC,
        event_type=f"test.e{n}.v1",
        at=T0 + timedelta(seconds=n),
        status=status,
        recorded_at=T0 + timedelta(seconds=100 + (n if arrived is None else arrived)),
        **fields,
    )


HAPPY = [
    applied(0, "uploaded", facts={"owner": "alice", "filename": "a.txt", "size_bytes": 5}),
    applied(1, "accepted", facts={"owner": "alice", "owner_email": "a@example.com"}),
    applied(2, "inspecting", percent=20.0, message="page 1"),
    applied(3, "inspecting", percent=70.0, message="page 2"),
    applied(4, "ready", inspection={"content_type": "text/plain", "language": "en"}),
    applied(5, None, message="quota released"),
]


def test_statuses_rank_forward_with_the_terminal_ones_on_top() -> None:
    assert set(STATUSES) == set(STATUS_RANK)
    top = max(STATUS_RANK.values())
    assert {s for s, r in STATUS_RANK.items() if r == top} == TERMINAL_STATUSES
    ranks = [STATUS_RANK[s] for s in ("uploaded", "accepted", "inspecting", "ready")]
    assert ranks == sorted(set(ranks))


def test_the_happy_story_folds_into_a_ready_entry() -> None:
    entry = project(DOC, HAPPY)
    assert entry.id == DOC
    assert entry.status == "ready"
    assert entry.terminal
    assert entry.status_event_id == "e4"
    assert entry.progress == 100.0
    assert entry.inspection == {"content_type": "text/plain", "language": "en"}
    assert (entry.owner, entry.owner_email, entry.filename) == ("alice", "a@example.com", "a.txt")
    assert [t.event_id for t in entry.timeline] == [f"e{n}" for n in range(6)]
    assert [t.status for t in entry.timeline] == [
        "uploaded", "accepted", "inspecting", "inspecting", "ready", "ready",
    ]  # fmt: skip
    assert [t.percent for t in entry.timeline] == [None, None, 20.0, 70.0, None, None]
    assert entry.created_at == T0 + timedelta(seconds=100)
    assert entry.updated_at == T0 + timedelta(seconds=105)


def test_every_arrival_order_folds_into_the_same_entry() -> None:
    expected = project(DOC, HAPPY)
    for order in itertools.permutations(HAPPY):
        assert project(DOC, order) == expected


def test_the_rank_never_goes_down_as_events_arrive() -> None:
    for order in itertools.permutations(HAPPY):
        ranks = [project(DOC, order[: i + 1]).rank for i in range(len(order))]
        assert ranks == sorted(ranks), [e.id for e in order]


def test_the_earliest_terminal_status_wins_with_its_reason() -> None:
    events = [
        applied(0, "uploaded"),
        applied(2, "ready", inspection={"content_type": "text/plain"}),
        applied(1, "failed", reason="unreadable"),
        applied(3, "inspecting", percent=90.0),
    ]
    entry = project(DOC, events)
    assert (entry.status, entry.reason, entry.status_event_id) == ("failed", "unreadable", "e1")
    assert entry.progress == 90.0
    assert [t.status for t in entry.timeline] == ["uploaded", "failed", "failed", "failed"]


def test_facts_come_from_the_earliest_event_that_carries_them() -> None:
    events = [
        applied(0, "inspecting", percent=10.0),
        applied(1, "uploaded", facts={"owner": "alice", "size_bytes": 10}),
        applied(2, "accepted", facts={"owner": "mallory", "owner_email": "a@example.com"}),
    ]
    entry = project(DOC, events)
    assert (entry.owner, entry.owner_email, entry.size_bytes) == ("alice", "a@example.com", 10)
    assert entry.status == "inspecting"
    assert entry.progress == 10.0


def test_a_document_known_only_from_timeline_events_counts_as_uploaded() -> None:
    entry = project(DOC, [applied(0, None, message="content deleted")])
    assert (entry.status, entry.rank, entry.status_event_id) == ("uploaded", 0, None)
    assert entry.timeline[0].status == "uploaded"


def test_no_event_no_entry() -> None:
    with pytest.raises(ValueError, match="no event"):
        project(DOC, [])


def test_keys_mongodb_refuses_are_replaced_deeply() -> None:
    assert storable({"a.b": {"$c": [{"d.e.f": 1}, 2]}, "ok$": None}) == {
        "a\uff0eb": {"\uff04c": [{"d\uff0ee\uff0ef": 1}, 2]},
        "ok$": None,
    }
    assert storable("a.b") == "a.b"


async def test_progress_of_other_jobs_is_ignored_before_any_store_is_touched() -> None:
    # No store is open here: an ignored event must not reach one.
    other = JobProgressed(job_id="x", service="thumbs", job="thumbnail", key=str(DOC), percent=50)
    assert await apply_job_progressed(other, event_id="p1", at=T0) is None
    not_a_document = other.model_copy(update={"job": "inspect_document", "key": "report-7"})
    assert await apply_job_progressed(not_a_document, event_id="p2", at=T0) is None


def test_the_service_consumes_what_its_docstring_says() -> None:
    service = create_service("catalog-unit")
    consumed = {t.__name__ for t in service.consumes}
    assert consumed == {
        "DocumentUploaded", "QuotaReserved", "JobProgressed", "DocumentInspected",
        "QuotaExceeded", "DocumentFailed", "QuotaReleased", "DocumentContentDeleted",
    }  # fmt: skip
    # ``services.catalog.service`` is also the name of the package's Service object.
    docstring = importlib.import_module("services.catalog.service").__doc__
    assert docstring is not None
    for name in consumed | {"DocumentReady"}:
        assert name in docstring
    assert DocumentUploaded in service.consumes
