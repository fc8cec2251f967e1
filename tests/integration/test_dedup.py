"""The Deduplicator's claim script and records, against the real Redis.

Each test works in a service scope of its own and deletes its keys afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bus import BusSettings
from bus.constants import CLAIM_KEY, DONE_KEY
from bus.dedup import Claim, Deduplicator

TTL = 600
EVENT = "event-1"


@dataclass
class Scope:
    """One service's dedup records in the real Redis."""

    redis: Redis
    service: str

    def dedup(self, *, lease: float = 60.0) -> Deduplicator:
        return Deduplicator(self.redis, self.service, ttl=TTL, lease=lease, poll=0.01)

    def done_key(self, event_id: str = EVENT) -> str:
        return DONE_KEY.format(service=self.service, event_id=event_id)

    def claim_key(self, event_id: str = EVENT) -> str:
        return CLAIM_KEY.format(service=self.service, event_id=event_id)


@pytest.fixture
async def scope(unique: Callable[[str], str]) -> AsyncIterator[Scope]:
    redis = Redis.from_url(BusSettings().redis_url)
    scope = Scope(redis, unique("dedup"))
    try:
        yield scope
    finally:
        await redis.delete(scope.done_key(), scope.claim_key())  # every test uses EVENT
        await redis.aclose()


class Tries:
    """Wraps a Deduplicator's claim step (the real script still runs) to count its
    answers and signal once the claimer has been turned away ``busy`` at least once."""

    def __init__(self, dedup: Deduplicator, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: list[object] = []
        self.turned_away = asyncio.Event()
        script = dedup._try_claim

        async def counting(event_id: str, owner: str) -> Any:
            answer = await script(event_id, owner)
            self.answers.append(answer)
            if answer == b"busy":
                self.turned_away.set()
            return answer

        monkeypatch.setattr(dedup, "_try_claim", counting)


async def test_the_first_claim_is_acquired_under_a_lease(scope: Scope) -> None:
    assert await scope.dedup(lease=30).claim(EVENT, "reader-1") is Claim.ACQUIRED

    assert await scope.redis.get(scope.claim_key()) == b"reader-1"
    assert 0 < await scope.redis.pttl(scope.claim_key()) <= 30_000
    assert await scope.redis.exists(scope.done_key()) == 0


async def test_an_event_with_a_done_record_is_done(scope: Scope) -> None:
    await scope.redis.set(scope.done_key(), "1")

    assert await scope.dedup().claim(EVENT, "reader-1") is Claim.DONE
    assert await scope.redis.exists(scope.claim_key()) == 0


async def test_another_owners_claim_is_waited_for_until_released(
    scope: Scope, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder, waiter = scope.dedup(), scope.dedup()
    assert await holder.claim(EVENT, "reader-1") is Claim.ACQUIRED
    tries = Tries(waiter, monkeypatch)

    waiting = asyncio.create_task(waiter.claim(EVENT, "reader-2"))
    async with asyncio.timeout(5):
        await tries.turned_away.wait()
    assert not waiting.done()
    await holder.release(EVENT)

    async with asyncio.timeout(5):
        assert await waiting is Claim.ACQUIRED
    assert tries.answers[-1] == b"acquired"
    assert await scope.redis.get(scope.claim_key()) == b"reader-2"


async def test_another_owners_claim_is_waited_for_until_done(
    scope: Scope, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder, waiter = scope.dedup(), scope.dedup()
    assert await holder.claim(EVENT, "reader-1") is Claim.ACQUIRED
    tries = Tries(waiter, monkeypatch)

    waiting = asyncio.create_task(waiter.claim(EVENT, "reader-2"))
    async with asyncio.timeout(5):
        await tries.turned_away.wait()
    assert not waiting.done()
    await holder.complete(EVENT)

    async with asyncio.timeout(5):
        assert await waiting is Claim.DONE
    assert await scope.redis.exists(scope.claim_key()) == 0


async def test_our_own_leftover_claim_is_acquired_at_once(
    scope: Scope, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What this replica's previous process left when it was killed mid-handler.
    await scope.redis.set(scope.claim_key(), "reader-1", px=60_000)
    dedup = scope.dedup(lease=30)
    tries = Tries(dedup, monkeypatch)

    async with asyncio.timeout(5):
        assert await dedup.claim(EVENT, "reader-1") is Claim.ACQUIRED

    assert tries.answers == [b"acquired"]
    assert 0 < await scope.redis.pttl(scope.claim_key()) <= 30_000  # a fresh lease


async def test_an_expired_lease_lets_another_owner_in(
    scope: Scope, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder, waiter = scope.dedup(lease=0.2), scope.dedup()
    assert await holder.claim(EVENT, "reader-1") is Claim.ACQUIRED  # and never lets go
    tries = Tries(waiter, monkeypatch)

    async with asyncio.timeout(5):
        assert await waiter.claim(EVENT, "reader-2") is Claim.ACQUIRED

    assert b"busy" in tries.answers
    assert await scope.redis.get(scope.claim_key()) == b"reader-2"


async def test_complete_records_done_for_the_ttl_and_drops_the_claim(scope: Scope) -> None:
    dedup = scope.dedup()
    await dedup.claim(EVENT, "reader-1")

    await dedup.complete(EVENT)

    assert await scope.redis.exists(scope.claim_key()) == 0
    assert TTL - 10 < await scope.redis.ttl(scope.done_key()) <= TTL
    assert await scope.dedup().claim(EVENT, "reader-2") is Claim.DONE


async def test_release_drops_the_claim_without_a_done_record(scope: Scope) -> None:
    dedup = scope.dedup()
    await dedup.claim(EVENT, "reader-1")

    await dedup.release(EVENT)

    assert await scope.redis.exists(scope.claim_key(), scope.done_key()) == 0


async def test_forget_drops_the_done_record(scope: Scope) -> None:
    dedup = scope.dedup()
    await dedup.claim(EVENT, "reader-1")
    await dedup.complete(EVENT)

    await dedup.forget(EVENT)

    assert await scope.redis.exists(scope.done_key()) == 0
    assert await dedup.claim(EVENT, "reader-2") is Claim.ACQUIRED


async def test_records_are_per_service(scope: Scope) -> None:
    await scope.redis.set(scope.done_key(), "1")
    other = Scope(scope.redis, f"{scope.service}-other")
    try:
        assert await other.dedup().claim(EVENT, "reader-1") is Claim.ACQUIRED
    finally:
        await scope.redis.delete(other.done_key(), other.claim_key())


async def test_concurrent_deliveries_share_round_trips(scope: Scope) -> None:
    dedup = scope.dedup()
    events = [f"batch-{n}" for n in range(50)]
    try:
        claims = await asyncio.gather(*(dedup.claim(e, "reader-1") for e in events))
        assert claims == [Claim.ACQUIRED] * 50
        assert dedup._steps.commits < 10  # one for the first, then the rest together

        await asyncio.gather(*(dedup.complete(e) for e in events))
        assert await scope.redis.exists(*(scope.done_key(e) for e in events)) == 50
        assert await scope.redis.exists(*(scope.claim_key(e) for e in events)) == 0
        assert await asyncio.gather(*(dedup.claim(e, "reader-2") for e in events)) == (
            [Claim.DONE] * 50
        )
    finally:
        await scope.redis.delete(*(scope.done_key(e) for e in events))
        await scope.redis.delete(*(scope.claim_key(e) for e in events))


async def test_a_failing_step_fails_only_its_own_delivery(scope: Scope) -> None:
    # A claim key of the wrong type makes the script fail for that event alone.
    await scope.redis.hset(scope.claim_key("broken"), "x", "1")  # type: ignore[misc]
    dedup = scope.dedup()
    try:
        results = await asyncio.gather(
            dedup.claim(EVENT, "reader-1"),
            dedup.claim("broken", "reader-1"),
            dedup.claim("fine", "reader-1"),
            return_exceptions=True,
        )
        assert results[0] is Claim.ACQUIRED
        assert isinstance(results[1], ResponseError)
        assert results[2] is Claim.ACQUIRED
    finally:
        await scope.redis.delete(scope.claim_key("broken"), scope.claim_key("fine"))
