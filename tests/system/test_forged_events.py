"""Forged events, as anyone with access to the broker could publish them, change nothing.

Each test lets a user's document become ready, then publishes what an attacker would:
one of the attacks of issue 11, through a plain ``Publisher``, with the CloudEvents
``source`` of a replica of the event's real producer (what a compromised producer, or
anyone who knows the names, can write). It then waits until every service has handled
every event and every job has ended, and checks that nothing changed: who can read the
document, its bytes, its status, what was inspected, and who got mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from urllib.parse import unquote, urlsplit
from uuid import UUID, uuid4

import pytest

from bus import Envelope, Publisher
from bus.journal import JournalEntry
from contracts import DocumentFailed, DocumentReady, Event, QuotaReleased, QuotaReserved
from services.accounts import NewUser
from services.catalog import CatalogEntry
from tests.helpers import eventually
from tests.system.conftest import SAMPLES, Pipeline, quiet

pytestmark = pytest.mark.timeout(180)

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
MALLORY = "mallory@evil.example"


@dataclass
class Victim:
    """A user with one document the pipeline made ready."""

    user: NewUser
    token: str
    document_id: UUID
    entry: CatalogEntry

    @property
    def blob(self) -> Path:
        assert self.entry.storage_url is not None
        return Path(unquote(urlsplit(self.entry.storage_url).path))


async def ready_document(pipeline: Pipeline, email: str) -> Victim:
    """A new user's ``english.txt``, ready and mailed about, with everything settled."""
    user, token = await pipeline.user(email)
    async with pipeline.client(token) as http:
        data = (SAMPLES / "english.txt").read_bytes()
        answer = await http.post("/documents", files={"file": ("english.txt", data, "text/plain")})
        assert answer.status_code == 202, answer.text
        document_id = UUID(answer.json()["document_id"])
        for _ in range(60):
            answer = await http.get(f"/documents/{document_id}", params={"wait": 1})
            if answer.json()["status"] == "ready":
                break
        assert answer.json()["status"] == "ready", answer.json()
    await eventually(lambda: bool(pipeline.inbox.about(document_id)), what="the ready mail")
    await quiet(pipeline)
    entry = await CatalogEntry.get(document_id)
    assert entry is not None
    victim = Victim(user, token, document_id, entry)
    assert victim.blob.is_file()
    return victim


async def forge(
    pipeline: Pipeline, event: Event, *, producer: str, time: datetime | None = None
) -> Envelope:
    """Publish ``event`` as replica 0 of the pipeline's ``producer``, at ``time`` if given."""
    [name] = {s.name for s in pipeline.services if s.name.startswith(f"{producer}-")}
    envelope = Envelope.wrap(event, source=f"/{name}/0")
    if time is not None:
        envelope = envelope.model_copy(update={"time": time})
    async with Publisher(source=envelope.source, settings=pipeline.settings) as publisher:
        await publisher.publish_envelope(envelope)
    return envelope


async def journaled(document_id: UUID, event_type: str) -> list[JournalEntry]:
    entries = await JournalEntry.find(JournalEntry.type == event_type).to_list()
    key = str(document_id)
    return [
        e for e in entries
        if key in (e.envelope["data"].get("document_id"), e.envelope["data"].get("key"))
    ]  # fmt: skip


def mail_to(pipeline: Pipeline, address: str) -> list[Message]:
    return [m for m in pipeline.inbox.mails if address in str(m["To"])]


async def readable_by(pipeline: Pipeline, token: str, document_id: UUID) -> int:
    async with pipeline.client(token) as http:
        return (await http.get(f"/documents/{document_id}")).status_code


async def still_the_victims(pipeline: Pipeline, victim: Victim) -> None:
    """The victim still reads the document, ready, under its own name."""
    async with pipeline.client(victim.token) as http:
        answer = await http.get(f"/documents/{victim.document_id}")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["filename"]) == ("ready", "english.txt")
    entry = await CatalogEntry.get(victim.document_id)
    assert entry is not None
    assert (entry.owner, entry.filename) == (victim.user.user_id, "english.txt")


@pytest.mark.parametrize("forged_type", ["quota_released", "quota_reserved"])
async def test_forged_accounts_event_with_an_old_time_does_not_hand_the_document_over(
    pipeline: Pipeline, forged_type: str
) -> None:
    # Issue 11: "a forged accounts.quota_released.v1 for another user's document, with an
    # old time, made the catalog hand the document to the forger".
    victim = await ready_document(pipeline, "victor@example.com")
    mallory, mallory_token = await pipeline.user("mallory@example.com")
    event: Event
    if forged_type == "quota_released":
        event = QuotaReleased(
            document_id=victim.document_id, owner=mallory.user_id, size_bytes=1,
            documents_used=0, bytes_used=0,
        )  # fmt: skip
    else:
        event = QuotaReserved(
            document_id=victim.document_id, owner=mallory.user_id, owner_email=MALLORY,
            filename="mine.txt", size_bytes=1, content_type="text/plain",
            storage_url=victim.entry.storage_url or "", documents_used=1, bytes_used=1,
        )  # fmt: skip
    forged = await forge(pipeline, event, producer="accounts", time=LONG_AGO)

    async def catalogued() -> bool:
        entry = await CatalogEntry.get(victim.document_id)
        return entry is not None and forged.id in {t.event_id for t in entry.timeline}

    await eventually(catalogued, what="the catalog to apply the forged event")
    await quiet(pipeline)

    assert await readable_by(pipeline, mallory_token, victim.document_id) == 404
    async with pipeline.client(mallory_token) as http:
        assert (await http.get("/documents")).json() == []
    await still_the_victims(pipeline, victim)
    assert mail_to(pipeline, MALLORY) == []


@pytest.mark.parametrize("named", ["the ready document", "another document"])
async def test_forged_document_failed_deletes_no_bytes(pipeline: Pipeline, named: str) -> None:
    # Issue 11: "a forged documents.failed.v1 made the gateway delete a ready document's
    # bytes". The gateway deletes only bytes it stored for the document the event names,
    # and never those of a document the catalog has ready.
    victim = await ready_document(pipeline, "victor@example.com")
    target = victim.document_id if named == "the ready document" else uuid4()
    event = DocumentFailed(
        document_id=target, owner=victim.user.user_id, owner_email=MALLORY,
        filename="english.txt", storage_url=victim.entry.storage_url or "",
        stage="inspection", reason="forged",
    )  # fmt: skip
    await forge(pipeline, event, producer="inspector")
    await quiet(pipeline)

    assert victim.blob.is_file()
    for document_id in {victim.document_id, target}:
        assert await journaled(document_id, "documents.content_deleted.v1") == []
    await still_the_victims(pipeline, victim)
    assert mail_to(pipeline, MALLORY) == []
    assert len(pipeline.inbox.about(victim.document_id)) == 1  # the ready mail alone


async def test_forged_quota_reserved_does_not_inspect_another_users_file(
    pipeline: Pipeline,
) -> None:
    # Issue 11: "a forged accounts.quota_reserved.v1 (new document id, storage URL of
    # another user's blob) made the inspector read the other user's file and the catalog
    # mark it ready for the forger, with no quota used".
    victim = await ready_document(pipeline, "victor@example.com")
    mallory, mallory_token = await pipeline.user("mallory@example.com")
    stolen = uuid4()
    event = QuotaReserved(
        document_id=stolen, owner=mallory.user_id, owner_email=MALLORY, filename="stolen.txt",
        size_bytes=victim.entry.size_bytes or 1, content_type="text/plain",
        storage_url=victim.entry.storage_url or "", documents_used=0, bytes_used=0,
    )  # fmt: skip
    await forge(pipeline, event, producer="accounts")
    await quiet(pipeline)

    for event_type in ("jobs.progressed.v1", "documents.inspected.v1", "documents.ready.v1"):
        assert await journaled(stolen, event_type) == [], event_type
    assert await readable_by(pipeline, mallory_token, stolen) == 404
    async with pipeline.client(mallory_token) as http:
        assert (await http.get("/documents")).json() == []
    assert pipeline.inbox.about(stolen) == []
    assert mail_to(pipeline, MALLORY) == []
    await still_the_victims(pipeline, victim)


@pytest.mark.parametrize(
    "target", ["the victim's document", "the victim's document, as mallory's", "no document"]
)
async def test_forged_document_ready_mails_no_address_and_no_subject_it_names(
    pipeline: Pipeline, target: str
) -> None:
    # Issue 11: "a forged documents.ready.v1 made the notifier mail an arbitrary address
    # with an arbitrary subject". The address comes from the owner's account, the subject
    # from the template and the catalog's entry; an event the catalog contradicts is refused.
    victim = await ready_document(pipeline, "victor@example.com")
    mallory, _ = await pipeline.user("mallory@example.com")
    owner = mallory.user_id if target.endswith("as mallory's") else victim.user.user_id
    document_id = uuid4() if target == "no document" else victim.document_id
    phishing = "Your password expires today, log in at evil.example"
    event = DocumentReady(
        document_id=document_id, owner=owner, owner_email=MALLORY, filename=phishing,
        content_type="text/plain",
    )  # fmt: skip
    await forge(pipeline, event, producer="catalog")
    await quiet(pipeline)

    assert mail_to(pipeline, MALLORY) == []
    assert mail_to(pipeline, "mallory@example.com") == []
    assert [m for m in pipeline.inbox.mails if "password" in str(m["Subject"])] == []
    for mail in pipeline.inbox.mails:  # every mail went to its owner, about its own file
        assert mail["To"] == "victor@example.com"
        assert mail["Subject"] == "Your document english.txt is ready"
    sent = await JournalEntry.find(JournalEntry.type == "notifications.sent.v1").to_list()
    assert {e.envelope["data"]["recipient"] for e in sent} == {"victor@example.com"}
