"""The reference system's query: accounts answers QuotaLeft from real PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from bus import BusSettings, Publisher, RequestFailedError, Service
from contracts import QuotaLeft, QuotaLeftReply
from services.accounts import create_service, create_user
from tests.helpers import eventually, uploaded

pytestmark = pytest.mark.timeout(60)


async def test_accounts_answers_the_quota_left_and_refuses_an_unknown_user(
    pg_settings: BusSettings, services: list[Service]
) -> None:
    accounts = create_service(settings=pg_settings)
    asker = Service(f"asker-{uuid.uuid4().hex[:6]}", settings=pg_settings, asks=[QuotaLeft])
    services += [accounts, asker]
    await accounts.start()
    await asker.start()
    user = await create_user(pg_settings.postgres_url, f"u-{uuid.uuid4().hex[:8]}@example.com",
                             max_documents=3, max_bytes=5000)  # fmt: skip

    before = await asker.request(QuotaLeft(user_id=user.user_id))
    assert before == QuotaLeftReply(documents_left=3, bytes_left=5000, max_documents=3,
                                    max_bytes=5000)  # fmt: skip

    event = uploaded(0, owner=user.user_id).model_copy(update={"size_bytes": 1200})
    async with Publisher(settings=pg_settings) as publisher:
        await publisher.publish(event)
    after = None

    async def decided() -> bool:
        nonlocal after
        after = await asker.request(QuotaLeft(user_id=user.user_id))
        return after.documents_left == 2

    await eventually(decided, what="the upload to reserve quota")
    assert after == QuotaLeftReply(documents_left=2, bytes_left=3800, max_documents=3,
                                   max_bytes=5000)  # fmt: skip

    with pytest.raises(RequestFailedError, match="UnknownUserError: no account for user 'nobody'"):
        await asker.request(QuotaLeft(user_id="nobody"))
