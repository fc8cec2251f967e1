"""Accounts against real PostgreSQL and the real broker: quota reserved and given back once."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bus import BusSettings, Envelope, Publisher, Service
from bus.journal import JournalEntry
from contracts import DocumentFailed, DocumentUploaded, QuotaExceeded, QuotaReleased, QuotaReserved
from services.accounts import AccountsReader, NewUser, QuotaView, create_service, create_user
from services.accounts.db import open_database
from services.accounts.keys import AccountExistsError, issue_api_key, revoke_api_key
from services.accounts.models import RELEASE, RESERVE, Quota, UsageEntry
from services.accounts.quota import Exceeded, Released, Reserved, release, reserve
from tests.helpers import eventually

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions(pg_settings: BusSettings) -> AsyncIterator[Sessions]:
    async with open_database(pg_settings.postgres_url, pool_size=20) as maker:
        yield maker


async def new_user(
    settings: BusSettings, *, max_documents: int = 5, max_bytes: int = 10_000
) -> NewUser:
    email = f"user-{uuid.uuid4().hex[:8]}@example.com"
    return await create_user(
        settings.postgres_url, email, max_documents=max_documents, max_bytes=max_bytes
    )


async def usage(sessions: Sessions, user: NewUser) -> tuple[int, int]:
    async with sessions() as session:
        quota = await session.get(Quota, uuid.UUID(user.user_id))
        assert quota is not None
        return quota.documents_used, quota.bytes_used


async def ledger(sessions: Sessions, kind: str, document_id: uuid.UUID | None = None) -> int:
    statement = select(func.count()).select_from(UsageEntry).where(UsageEntry.kind == kind)
    if document_id is not None:
        statement = statement.where(UsageEntry.document_id == document_id)
    async with sessions() as session:
        return (await session.exec(statement)).one()


async def reserve_in(
    sessions: Sessions, user: NewUser | str, document_id: uuid.UUID, size: int, event: str = "e"
) -> Reserved | Exceeded:
    owner = user if isinstance(user, str) else user.user_id
    async with sessions() as session:
        return await reserve(
            session, owner=owner, document_id=document_id, size_bytes=size, event_id=event
        )


async def release_in(
    sessions: Sessions, document_id: uuid.UUID, event: str = "f"
) -> Released | None:
    async with sessions() as session:
        return await release(session, document_id=document_id, event_id=event)


# -- reserving ------------------------------------------------------------


async def test_a_reservation_within_quota_is_written(
    pg_settings: BusSettings, sessions: Sessions
) -> None:
    user = await new_user(pg_settings)
    first = await reserve_in(sessions, user, uuid.uuid4(), 1200)
    second = await reserve_in(sessions, user, uuid.uuid4(), 300)

    assert first == Reserved(user.user_id, user.email, 1200, documents_used=1, bytes_used=1200)
    assert second == Reserved(user.user_id, user.email, 300, documents_used=2, bytes_used=1500)
    assert await usage(sessions, user) == (2, 1500)
    assert await ledger(sessions, RESERVE) == 2


async def test_the_same_document_is_reserved_once(
    pg_settings: BusSettings, sessions: Sessions
) -> None:
    user = await new_user(pg_settings)
    document = uuid.uuid4()
    first = await reserve_in(sessions, user, document, 500, event="upload-1")
    await reserve_in(sessions, user, uuid.uuid4(), 100)  # usage moves on in between
    again = await reserve_in(sessions, user, document, 500, event="upload-2")

    assert isinstance(first, Reserved)
    assert again == Reserved(user.user_id, user.email, 500, 1, 500, repeated=True)
    assert await ledger(sessions, RESERVE, document) == 1
    assert await usage(sessions, user) == (2, 600)


async def test_over_the_document_quota_is_refused_and_nothing_written(
    pg_settings: BusSettings, sessions: Sessions
) -> None:
    user = await new_user(pg_settings, max_documents=2)
    for _ in range(2):
        assert isinstance(await reserve_in(sessions, user, uuid.uuid4(), 10), Reserved)
    refused = await reserve_in(sessions, user, uuid.uuid4(), 10)

    assert refused == Exceeded("document quota exhausted: 2 of 2 used", user.email)
    assert await usage(sessions, user) == (2, 20)
    assert await ledger(sessions, RESERVE) == 2


async def test_over_the_byte_quota_is_refused_and_nothing_written(
    pg_settings: BusSettings, sessions: Sessions
) -> None:
    user = await new_user(pg_settings, max_bytes=2048)
    assert isinstance(await reserve_in(sessions, user, uuid.uuid4(), 1024), Reserved)
    refused = await reserve_in(sessions, user, uuid.uuid4(), 1025)

    assert refused == Exceeded(
        "byte quota exceeded: 1 KiB of 2 KiB used, the document needs 1 KiB", user.email
    )
    assert await usage(sessions, user) == (1, 1024)
    assert await ledger(sessions, RESERVE) == 1
    # What is left still fits exactly.
    assert isinstance(await reserve_in(sessions, user, uuid.uuid4(), 1024), Reserved)


@pytest.mark.parametrize("owner", ["alice", str(uuid.uuid4())])
async def test_an_owner_that_is_no_user_is_an_unknown_account(
    pg_settings: BusSettings, sessions: Sessions, owner: str
) -> None:
    await new_user(pg_settings)
    assert await reserve_in(sessions, owner, uuid.uuid4(), 10) == Exceeded("unknown account")
    assert await ledger(sessions, RESERVE) == 0


async def test_concurrent_reservations_never_overshoot(
    pg_settings: BusSettings, sessions: Sessions
) -> None:
    user = await new_user(pg_settings, max_documents=5)
    outcomes = await asyncio.gather(
        *(reserve_in(sessions, user, uuid.uuid4(), 100) for _ in range(20))
    )

    reserved = [o for o in outcomes if isinstance(o, Reserved)]
    assert len(reserved) == 5
    assert sorted(o.documents_used for o in reserved) == [1, 2, 3, 4, 5]
    assert all(o == Exceeded("document quota exhausted: 5 of 5 used", user.email)
               for o in outcomes if not isinstance(o, Reserved))  # fmt: skip
    assert await usage(sessions, user) == (5, 500)
    assert await ledger(sessions, RESERVE) == 5


async def test_concurrent_reservations_of_one_document_count_it_once(
    pg_settings: BusSettings, sessions: Sessions
) -> None:
    user = await new_user(pg_settings)
    document = uuid.uuid4()
    outcomes = await asyncio.gather(
        *(reserve_in(sessions, user, document, 100, event=f"e{n}") for n in range(10))
    )

    assert all(isinstance(o, Reserved) and o.documents_used == 1 for o in outcomes)
    assert sum(not o.repeated for o in outcomes if isinstance(o, Reserved)) == 1
    assert await usage(sessions, user) == (1, 100)
    assert await ledger(sessions, RESERVE, document) == 1


# -- giving back ----------------------------------------------------------


async def test_a_release_gives_back_once(pg_settings: BusSettings, sessions: Sessions) -> None:
    user = await new_user(pg_settings)
    document, other = uuid.uuid4(), uuid.uuid4()
    await reserve_in(sessions, user, document, 700)
    await reserve_in(sessions, user, other, 50)

    given_back = await release_in(sessions, document, event="failed-1")
    assert given_back == Released(user.user_id, user.email, 700, documents_used=1, bytes_used=50)
    assert await usage(sessions, user) == (1, 50)

    # Another request for the same document gives nothing back again.
    assert await release_in(sessions, document, event="failed-2") is None
    assert await usage(sessions, user) == (1, 50)
    assert await ledger(sessions, RELEASE, document) == 1

    # The same request again (a handler run twice) gets the same answer, and changes nothing.
    assert await release_in(sessions, document, event="failed-1") == Released(
        user.user_id, user.email, 700, documents_used=1, bytes_used=50, repeated=True
    )
    assert await usage(sessions, user) == (1, 50)

    # A redelivered upload after the release does not take the quota again.
    again = await reserve_in(sessions, user, document, 700)
    assert isinstance(again, Reserved)
    assert again.repeated
    assert await usage(sessions, user) == (1, 50)


async def test_releasing_what_was_never_reserved_changes_nothing(
    pg_settings: BusSettings, sessions: Sessions
) -> None:
    user = await new_user(pg_settings)
    refused_document = uuid.uuid4()
    await reserve_in(sessions, user, refused_document, 1_000_000)  # over the byte quota

    assert await release_in(sessions, refused_document) is None
    assert await release_in(sessions, uuid.uuid4()) is None
    assert await usage(sessions, user) == (0, 0)
    assert await ledger(sessions, RELEASE) == 0


# -- users and the reader -------------------------------------------------


async def test_the_reader_knows_active_keys_only(
    pg_settings: BusSettings, sessions: Sessions
) -> None:
    user = await new_user(pg_settings)
    async with sessions() as session:
        second_key = await issue_api_key(session, uuid.UUID(user.user_id))

    async with AccountsReader(pg_settings.postgres_url) as reader:
        identity = await reader.authenticate(user.api_key)
        assert identity is not None
        assert (identity.user_id, identity.email) == (user.user_id, user.email)
        assert await reader.authenticate(second_key) == identity
        assert await reader.authenticate(user.api_key[:-1] + "x") is None
        assert await reader.authenticate("") is None
        assert await reader.authenticate("not-a-chorus-key") is None

        async with sessions() as session:
            assert await revoke_api_key(session, user.api_key)
        async with sessions() as session:
            assert not await revoke_api_key(session, user.api_key)  # already revoked
        assert await reader.authenticate(user.api_key) is None
        assert await reader.authenticate(second_key) == identity


async def test_the_reader_shows_the_quota(pg_settings: BusSettings, sessions: Sessions) -> None:
    user = await new_user(pg_settings, max_documents=3, max_bytes=1000)
    await reserve_in(sessions, user, uuid.uuid4(), 900)

    async with AccountsReader(pg_settings.postgres_url) as reader:
        view = await reader.quota(user.user_id)
        assert await reader.quota(str(uuid.uuid4())) is None
        assert await reader.quota("alice") is None
        assert await reader.find(user.email.upper()) == await reader.authenticate(user.api_key)

    assert view == QuotaView(max_documents=3, max_bytes=1000, documents_used=1, bytes_used=900)
    assert view.allows(100)
    assert not view.allows(101)
    assert view.describe_refusal(101).startswith("byte quota exceeded: 900 bytes of 1000 bytes")


async def test_a_reader_before_any_table_exists_finds_no_one(pg_settings: BusSettings) -> None:
    async with AccountsReader(pg_settings.postgres_url) as reader:
        assert await reader.authenticate("chorus_" + "a" * 43) is None
        assert await reader.quota(str(uuid.uuid4())) is None


async def test_an_email_is_taken_once(pg_settings: BusSettings) -> None:
    user = await new_user(pg_settings)
    with pytest.raises(AccountExistsError, match=f"an account for {user.email} already exists"):
        await create_user(pg_settings.postgres_url, user.email.upper())


# -- the service on the real broker ---------------------------------------


async def test_the_service_reserves_and_gives_back_over_the_bus(
    pg_settings: BusSettings,
    sessions: Sessions,
    services: list[Service],
    unique: Callable[[str], str],
) -> None:
    user = await new_user(pg_settings, max_documents=1)
    seen: list[tuple[QuotaReserved | QuotaExceeded | QuotaReleased, Envelope]] = []
    recorder = Service(unique("recorder"), settings=pg_settings)

    @recorder.on(QuotaReserved)
    async def on_reserved(event: QuotaReserved, envelope: Envelope) -> None:
        seen.append((event, envelope))

    @recorder.on(QuotaExceeded)
    async def on_exceeded(event: QuotaExceeded, envelope: Envelope) -> None:
        seen.append((event, envelope))

    @recorder.on(QuotaReleased)
    async def on_released(event: QuotaReleased, envelope: Envelope) -> None:
        seen.append((event, envelope))

    accounts = create_service(unique("accounts"), pg_settings)
    services.extend([recorder, accounts])
    await recorder.start()
    await accounts.start()

    def upload(owner: str) -> DocumentUploaded:
        return DocumentUploaded(
            document_id=uuid.uuid4(), owner=owner, filename="report.txt", size_bytes=1200,
            content_type="text/plain", storage_url="file:///tmp/report.txt",
        )  # fmt: skip

    def about(document_id: uuid.UUID, kind: type) -> Callable[[], bool]:
        return lambda: any(isinstance(e, kind) and e.document_id == document_id for e, _ in seen)

    first, second, stranger = upload(user.user_id), upload(user.user_id), upload("mallory")
    async with Publisher(settings=pg_settings) as publisher:
        cause = await publisher.publish(first)
        await eventually(about(first.document_id, QuotaReserved), what="QuotaReserved")
        await publisher.publish(second)
        await publisher.publish(stranger)
        await eventually(about(second.document_id, QuotaExceeded), what="QuotaExceeded")
        await eventually(about(stranger.document_id, QuotaExceeded), what="unknown account")
        failure = DocumentFailed(
            document_id=first.document_id, owner=user.user_id, filename="report.txt",
            storage_url="file:///tmp/report.txt", stage="inspect", reason="unreadable",
        )  # fmt: skip
        failed = await publisher.publish(failure)
        await eventually(about(first.document_id, QuotaReleased), what="QuotaReleased")

    by_document = {(type(e), e.document_id): (e, env) for e, env in seen}
    reserved, reserved_envelope = by_document[QuotaReserved, first.document_id]
    assert reserved == QuotaReserved(
        document_id=first.document_id, owner=user.user_id, owner_email=user.email,
        filename="report.txt", size_bytes=1200, content_type="text/plain",
        storage_url="file:///tmp/report.txt", documents_used=1, bytes_used=1200,
    )  # fmt: skip
    assert reserved_envelope.causationid == cause.id
    assert reserved_envelope.correlationid == cause.correlationid

    refused, _ = by_document[QuotaExceeded, second.document_id]
    assert isinstance(refused, QuotaExceeded)
    assert refused.reason == "document quota exhausted: 1 of 1 used"
    assert refused.owner_email == user.email
    unknown, _ = by_document[QuotaExceeded, stranger.document_id]
    assert isinstance(unknown, QuotaExceeded)
    assert unknown.reason == "unknown account"

    released, released_envelope = by_document[QuotaReleased, first.document_id]
    assert released == QuotaReleased(
        document_id=first.document_id, owner=user.user_id, size_bytes=1200,
        documents_used=0, bytes_used=0,
    )  # fmt: skip
    assert released_envelope.causationid == failed.id
    assert await usage(sessions, user) == (0, 0)

    # What the service published went through the journal too.
    journaled = await JournalEntry.find(
        JournalEntry.type == "accounts.quota_reserved.v1", JournalEntry.causationid == cause.id
    ).to_list()
    assert [entry.id for entry in journaled] == [reserved_envelope.id]
