"""The catalog and accounts' reader against the real stores: what a forged event can't do.

The attacks of issue 11 end to end are in ``tests/system/test_forged_events.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from bus import BusSettings
from bus.mongo import connect_mongo, release_mongo
from bus.testing import in_memory
from contracts import DocumentInspected, DocumentReady, DocumentUploaded, QuotaReleased
from services.accounts import AccountsReader, create_user
from services.catalog import (
    AppliedEvent,
    CatalogEntry,
    LoggedEvent,
    create_service,
    find_document,
    list_documents,
)
from services.catalog.service import ready_event_id

SHA = "ab" * 32


@pytest.fixture
async def catalog(settings: BusSettings) -> AsyncIterator[None]:
    await connect_mongo(settings.mongo_url, [CatalogEntry, LoggedEvent, AppliedEvent])
    yield
    await release_mongo(settings.mongo_url)


def uploaded(document_id: uuid.UUID, owner: str = "alice") -> DocumentUploaded:
    return DocumentUploaded(
        document_id=document_id, owner=owner, owner_email=f"{owner}@example.com",
        filename="report.pdf", size_bytes=1200, content_type="application/pdf",
        storage_url=f"file:///tmp/chorus/{document_id}",
    )  # fmt: skip


def inspected(document_id: uuid.UUID, owner: str = "alice") -> DocumentInspected:
    return DocumentInspected(
        document_id=document_id, owner=owner, owner_email=f"{owner}@evil.example",
        filename="mine.pdf", content_type="application/pdf", sha256=SHA, size_bytes=1200,
        language="en", details={},
    )  # fmt: skip


@pytest.mark.usefixtures("catalog")
async def test_an_upload_that_arrives_after_the_inspection_announces_the_document_once(
    settings: BusSettings, unique: Callable[[str], str]
) -> None:
    # The inspection names another owner, file and address: only the upload's count.
    service = create_service(unique("catalog"), settings)
    document_id = uuid.uuid4()
    async with in_memory(service) as bus:
        await bus.publish(inspected(document_id, owner="mallory"))
        assert bus.of_type(DocumentReady) == []  # ready, but whose? Not announced yet.
        upload = await bus.publish(uploaded(document_id))
        await bus.publish_envelope(upload)  # a redelivery announces the same event again

    announced = bus.of_type(DocumentReady)
    assert [e.id for e in announced] == [ready_event_id(service.name, document_id)] * 2
    assert announced[0].causationid == upload.id
    assert announced[0].data == {
        "document_id": str(document_id), "owner": "alice", "owner_email": "alice@example.com",
        "filename": "report.pdf", "content_type": "application/pdf", "language": "en",
    }  # fmt: skip
    assert bus.dead_letters.letters == {}


@pytest.mark.usefixtures("catalog")
async def test_a_document_nobody_uploaded_is_nobodys_and_never_announced(
    settings: BusSettings, unique: Callable[[str], str]
) -> None:
    service = create_service(unique("catalog"), settings)
    document_id = uuid.uuid4()
    async with in_memory(service) as bus:
        await bus.publish(inspected(document_id, owner="mallory"))
    assert bus.of_type(DocumentReady) == []
    entry = await CatalogEntry.get(document_id)
    assert entry is not None
    assert (entry.status, entry.owner, entry.filename) == ("ready", None, None)
    assert await find_document(document_id, "mallory") is None
    assert await list_documents("mallory") == []


@pytest.mark.usefixtures("catalog")
async def test_an_old_event_naming_another_owner_hands_nothing_over(
    settings: BusSettings, unique: Callable[[str], str]
) -> None:
    service = create_service(unique("catalog"), settings)
    document_id = uuid.uuid4()
    async with in_memory(service) as bus:
        await bus.publish(uploaded(document_id))
        forged = await bus.publish(
            QuotaReleased(
                document_id=document_id, owner="mallory", size_bytes=1, documents_used=0,
                bytes_used=0,
            )
        )  # fmt: skip
        old = forged.model_copy(
            update={"id": str(uuid.uuid4()), "time": datetime(2000, 1, 1, tzinfo=UTC)}
        )
        await bus.publish_envelope(old)

    assert await find_document(document_id, "mallory") is None
    found = await find_document(document_id, "alice")
    assert found is not None
    assert (found.owner, found.filename, found.size_bytes) == ("alice", "report.pdf", 1200)
    assert found.timeline[0].event_id == old.id  # shown first, in the time it claims


async def test_accounts_tells_the_address_of_a_user_and_of_no_one_else(
    pg_settings: BusSettings,
) -> None:
    user = await create_user(pg_settings.postgres_url, "Ada@Example.com")
    async with AccountsReader(pg_settings.postgres_url, pool_size=1) as reader:
        assert await reader.email_of(user.user_id) == "ada@example.com"
        assert await reader.email_of(str(uuid.uuid4())) is None
        assert await reader.email_of("ada@example.com") is None  # not a user id
