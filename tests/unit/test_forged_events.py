"""What the catalog, the notifier and the inspector believe of an event, without servers.

The attacks of issue 11 end to end are in ``tests/system/test_forged_events.py``; here
are the rules behind them: the catalog's fold, the notifier's checks against the
catalog and accounts, the inspector's check of a storage URL.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bus import RetryPolicy
from bus.testing import in_memory
from contracts import DocumentFailed, DocumentReady, NotificationSent, QuotaExceeded, QuotaReserved
from services.catalog import AppliedEventBase, CatalogEntryBase, Status
from services.catalog.projection import project
from services.inspector import create_service as create_inspector
from services.notifier import (
    Mailer,
    NotifierSettings,
    RefusedEventError,
    create_service,
    message_id,
    verified,
)
from services.storage import LocalStorage

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DOC = uuid.UUID("9b2f0b7e-4a51-4c1e-9d57-0f6b5b7a1e11")
ALICE = "0b8f4c8e-1d2a-4f7e-9c3b-5a6d7e8f9a0b"
MALLORY = "7f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


def applied(
    n: int,
    status: Status | None,
    *,
    happened: int | None = None,
    event_type: str = "test.event.v1",
    **fields: Any,
) -> AppliedEventBase:
    """The n-th event the catalog received about DOC (at T0 + n s), whose sender says it
    happened at T0 + ``happened`` s (default: when it was received)."""
    return AppliedEventBase(
        id=f"e{n}",
        document_id=DOC,
        event_type=event_type,
        at=T0 + timedelta(seconds=n if happened is None else happened),
        status=status,
        recorded_at=T0 + timedelta(seconds=n),
        **fields,
    )


UPLOAD = applied(
    0, "uploaded", event_type="documents.uploaded.v1",
    facts={"owner": ALICE, "owner_email": "alice@example.com", "filename": "a.txt",
           "size_bytes": 5, "storage_url": "file:///blobs/a"},
)  # fmt: skip
READY = applied(1, "ready", inspection={"content_type": "text/plain", "language": "en"})


# -- the catalog's fold ---------------------------------------------------------------


def test_an_owner_named_by_any_event_but_the_upload_is_not_believed() -> None:
    # A forged QuotaReleased as the catalog logged it before this fix (with an owner),
    # claiming to have happened long before the upload.
    forged = applied(
        2, None, happened=-3600, facts={"owner": MALLORY, "filename": "mine.txt", "size_bytes": 1}
    )
    entry = project(DOC, [UPLOAD, READY, forged])
    assert (entry.owner, entry.filename, entry.size_bytes) == (ALICE, "a.txt", 5)
    assert entry.storage_url == "file:///blobs/a"
    assert [t.event_id for t in entry.timeline] == ["e2", "e0", "e1"]  # shown in event time


def test_a_document_without_its_upload_has_no_owner_whatever_the_events_say() -> None:
    reserved = applied(0, "accepted", facts={"owner": MALLORY, "filename": "stolen.txt"})
    inspected = applied(1, "ready", inspection={"content_type": "text/plain"})
    entry = project(DOC, [reserved, inspected])
    assert entry.status == "ready"
    assert (entry.owner, entry.filename, entry.storage_url) == (None, None, None)


def test_the_first_upload_received_decides_even_against_an_older_time() -> None:
    second = applied(2, "uploaded", happened=-60, facts={"owner": MALLORY, "filename": "mine.txt"})
    assert project(DOC, [UPLOAD, READY, second]).owner == ALICE


def test_the_first_terminal_status_received_stays_whatever_time_a_later_one_claims() -> None:
    failed = applied(2, "failed", happened=-60, reason="forged")
    entry = project(DOC, [UPLOAD, READY, failed])
    assert (entry.status, entry.status_event_id, entry.reason) == ("ready", "e1", None)
    assert entry.inspection == {"content_type": "text/plain", "language": "en"}
    # In event time the forged failure comes first; it lost, so it shows no status.
    assert [(t.event_id, t.status) for t in entry.timeline] == [
        ("e2", "uploaded"), ("e0", "uploaded"), ("e1", "ready"),
    ]  # fmt: skip


def test_a_later_inspection_does_not_replace_the_one_that_made_it_ready() -> None:
    again = applied(2, "ready", inspection={"content_type": "application/x-forged"})
    entry = project(DOC, [UPLOAD, READY, again])
    assert entry.inspection == {"content_type": "text/plain", "language": "en"}


def test_an_address_comes_from_the_upload_before_any_other_event() -> None:
    reserved = applied(1, "accepted", facts={"owner_email": "other@example.com"})
    assert project(DOC, [UPLOAD, reserved]).owner_email == "alice@example.com"
    bare = UPLOAD.model_copy(update={"facts": {"owner": ALICE, "filename": "a.txt"}})
    assert project(DOC, [bare, reserved]).owner_email == "other@example.com"


# -- the notifier's checks ------------------------------------------------------------


def entry(status: Status = "ready", owner: str | None = ALICE, **fields: Any) -> CatalogEntryBase:
    return CatalogEntryBase(
        id=DOC, owner=owner, filename="a.txt" if owner else None, status=status,
        inspection={"content_type": "text/plain", "language": "en"}, created_at=T0,
        updated_at=T0, **fields,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "found", "owner", "refusal"),
    [
        ("document_ready", None, ALICE, "no upload of document"),
        ("document_ready", entry(owner=None), ALICE, "no upload of document"),
        ("document_ready", entry(), MALLORY, "as the owner of"),
        ("document_ready", entry("inspecting"), ALICE, "inspecting, not ready"),
        ("document_failed", entry("ready"), ALICE, "ready, not failed"),
        ("quota_exceeded", entry("failed"), ALICE, "failed, not rejected"),
    ],
)
def test_an_event_the_catalog_contradicts_is_refused(
    kind: Any, found: CatalogEntryBase | None, owner: str, refusal: str
) -> None:
    with pytest.raises(RefusedEventError, match=refusal):
        verified(kind, DOC, owner, found)


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("document_ready", "ready"),
        ("document_failed", "inspecting"),  # the catalog has not applied the failure yet
        ("document_failed", "failed"),
        ("quota_exceeded", "uploaded"),
        ("quota_exceeded", "rejected"),
    ],
)
def test_an_event_the_catalog_agrees_with_is_verified(kind: Any, status: Status) -> None:
    found = entry(status)
    assert verified(kind, DOC, ALICE, found) is found


class Records:
    """A catalog of one document and an accounts database of one user."""

    def __init__(self, found: CatalogEntryBase | None) -> None:
        self.found = found

    async def document(self, document_id: uuid.UUID) -> CatalogEntryBase | None:
        return self.found if document_id == DOC else None

    async def email(self, owner: str) -> str | None:
        return "alice@example.com" if owner == ALICE else None


class Outbox(Mailer):
    def __init__(self) -> None:
        super().__init__(NotifierSettings())
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, *, recipient: str, subject: str, body: str, event_id: str) -> str:
        self.sent.append((recipient, subject, body))
        return message_id(event_id)


def notifier(found: CatalogEntryBase | None) -> tuple[Any, Outbox]:
    mailer = Outbox()
    service = create_service(
        "notifier-unit", config=NotifierSettings(catalog_wait=0), mailer=mailer,
        owners=Records(found), retry=RetryPolicy(attempts=2, initial_delay=0, max_delay=0),
    )  # fmt: skip
    return service, mailer


def ready(document_id: uuid.UUID = DOC, owner: str = ALICE) -> DocumentReady:
    return DocumentReady(
        document_id=document_id, owner=owner, owner_email="mallory@evil.example",
        filename="Your password expires today", content_type="application/x-forged",
    )  # fmt: skip


async def test_the_mail_goes_to_the_account_about_the_catalogs_document() -> None:
    service, mailer = notifier(entry())
    async with in_memory(service) as bus:
        await bus.publish(ready())

    [(recipient, subject, body)] = mailer.sent
    assert recipient == "alice@example.com"
    assert subject == "Your document a.txt is ready"
    assert "text/plain" in body
    assert "password" not in body
    assert "forged" not in body
    [sent] = [NotificationSent.model_validate(e.data) for e in bus.of_type(NotificationSent)]
    assert (sent.recipient, sent.subject) == ("alice@example.com", subject)


async def test_a_failure_mail_names_the_catalogs_file_and_the_events_reason() -> None:
    service, mailer = notifier(entry("inspecting"))
    failed = DocumentFailed(
        document_id=DOC, owner=ALICE, owner_email="mallory@evil.example",
        filename="Click here", storage_url="file:///blobs/a", stage="inspection",
        reason="not a PDF after all",
    )  # fmt: skip
    async with in_memory(service) as bus:
        await bus.publish(failed)

    [(recipient, subject, body)] = mailer.sent
    assert (recipient, subject) == (
        "alice@example.com",
        "Your document a.txt could not be processed",
    )
    assert "not a PDF after all" in body


@pytest.mark.parametrize(
    ("found", "event", "refusal"),
    [
        (None, ready(), "no upload of document"),
        (entry(), ready(uuid.uuid4()), "no upload of document"),
        (entry(), ready(owner=MALLORY), "as the owner of"),
        (entry("failed"), ready(), "failed, not ready"),
        (
            entry("ready"),
            QuotaExceeded(
                document_id=DOC,
                owner=ALICE,
                owner_email="mallory@evil.example",
                filename="x",
                size_bytes=1,
                storage_url="file:///blobs/a",
                reason="forged",
            ),
            "ready, not rejected",
        ),
    ],
    ids=["unknown", "another-document", "another-owner", "not-ready", "refusal-of-a-ready-one"],
)
async def test_a_forged_event_mails_no_one_and_is_dead_lettered_at_once(
    found: CatalogEntryBase | None, event: Any, refusal: str
) -> None:
    service, mailer = notifier(found)
    async with in_memory(service) as bus:
        await bus.publish(event)

    assert mailer.sent == []
    assert bus.of_type(NotificationSent) == []
    [letter] = bus.dead_letters.letters.values()
    assert letter.attempts == 1
    assert refusal in letter.reason


async def test_an_owner_without_an_address_gets_no_mail_and_no_error() -> None:
    found = entry(owner="5e5e5e5e-0000-4000-8000-000000000000")
    service, mailer = notifier(found)
    async with in_memory(service) as bus:
        await bus.publish(ready(owner="5e5e5e5e-0000-4000-8000-000000000000"))
    assert mailer.sent == []
    assert bus.dead_letters.letters == {}


# -- the inspector ----------------------------------------------------------------------


async def test_the_inspector_reads_no_bytes_but_the_documents_own(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    service = create_inspector("inspector-unit", storage=storage)
    asked: list[str] = []

    async def enqueue(job: object, *, key: str, **kwargs: Any) -> bool:
        asked.append(key)
        return True

    service.enqueue = enqueue  # type: ignore[method-assign]
    theirs, stolen = uuid.uuid4(), uuid.uuid4()

    def reserved(document_id: uuid.UUID, url: str) -> QuotaReserved:
        return QuotaReserved(
            document_id=document_id, owner=MALLORY, filename="stolen.txt", size_bytes=10,
            content_type="text/plain", storage_url=url, documents_used=0, bytes_used=0,
        )  # fmt: skip

    async with in_memory(service) as bus:
        await bus.publish(reserved(stolen, storage.url_for(theirs)))  # another's bytes
        await bus.publish(reserved(stolen, "file:///etc/passwd"))  # not storage's at all
        await bus.publish(reserved(theirs, storage.url_for(theirs)))  # its own: inspected
    assert asked == [str(theirs)]
    assert bus.dead_letters.letters == {}
