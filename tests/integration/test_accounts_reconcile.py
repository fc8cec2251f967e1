"""The nightly reconciliation against real PostgreSQL: quota totals set back to the ledger."""

import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from sqlmodel import update

from bus import BusSettings, Service
from services.accounts import AccountsSettings, create_service
from services.accounts.db import open_database
from services.accounts.models import Quota
from services.accounts.reconcile import Correction, reconcile
from tests.helpers import eventually
from tests.integration.test_accounts import Sessions, new_user, release_in, reserve_in, usage


@pytest.fixture
async def db(pg_settings: BusSettings) -> AsyncIterator[Sessions]:
    async with open_database(pg_settings.postgres_url, pool_size=5) as maker:
        yield maker


async def corrupt(sessions: Sessions, user_id: str, documents: int, size: int) -> None:
    async with sessions() as session:
        await session.exec(
            update(Quota)
            .where(Quota.user_id == uuid.UUID(user_id))  # type: ignore[arg-type]
            .values(documents_used=documents, bytes_used=size)
        )
        await session.commit()


async def test_totals_that_drifted_are_set_back_to_the_ledger(
    pg_settings: BusSettings, db: Sessions
) -> None:
    sessions = db
    user, other = await new_user(pg_settings), await new_user(pg_settings)
    kept, given_back = uuid.uuid4(), uuid.uuid4()
    await reserve_in(sessions, user, kept, 1200)
    await reserve_in(sessions, user, given_back, 300)
    await release_in(sessions, given_back)
    await reserve_in(sessions, other, uuid.uuid4(), 50)
    await corrupt(sessions, user.user_id, 7, 99_999)

    async with sessions() as session:
        corrections = await reconcile(session)

    mine = [c for c in corrections if c.user_id == uuid.UUID(user.user_id)]
    assert mine == [Correction(uuid.UUID(user.user_id), (7, 1), (99_999, 1200))]
    assert not any(c.user_id == uuid.UUID(other.user_id) for c in corrections)
    assert await usage(sessions, user) == (1, 1200)
    assert await usage(sessions, other) == (1, 50)
    async with sessions() as session:
        again = await reconcile(session)
    assert not any(c.user_id == uuid.UUID(user.user_id) for c in again)


async def test_the_accounts_service_reconciles_on_its_schedule(
    pg_settings: BusSettings,
    db: Sessions,
    services: list[Service],
    unique: Callable[[str], str],
) -> None:
    sessions = db
    user = await new_user(pg_settings)
    await reserve_in(sessions, user, uuid.uuid4(), 400)
    await corrupt(sessions, user.user_id, 0, 0)
    accounts = create_service(
        unique("accounts"),
        settings=pg_settings,
        config=AccountsSettings(reconcile_schedule="* * * * * *"),  # every second
    )
    services.append(accounts)
    await accounts.start(work=True)

    async def reconciled() -> bool:
        return await usage(sessions, user) == (1, 400)

    await eventually(reconciled, what="the scheduled reconciliation to fix the totals")
