"""A replica whose version stopped subscribing to a topic takes that subscription back
from its persistent session, and the messages the broker held for it with it, on the
real broker and Redis (``bus.runtime.sessions``)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from bus import BusSettings, Envelope, Publisher, Service
from bus._internal.mqtt import _overlap
from bus.runtime.sessions import SessionFilters
from contracts import DocumentUploaded, QuotaReserved
from tests.helpers import eventually, uploaded


def version_1(name: str, settings: BusSettings) -> tuple[Service, Counter[str]]:
    service = Service(name, settings=settings)
    seen: Counter[str] = Counter()

    @service.on(DocumentUploaded)
    async def count(event: DocumentUploaded) -> None:
        seen[event.filename] += 1

    return service, seen


def version_2(name: str, settings: BusSettings) -> Service:
    """The same service without its DocumentUploaded handler."""
    service = Service(name, settings=settings)

    @service.on(QuotaReserved)
    async def reserved(event: QuotaReserved) -> None:
        return None

    return service


async def held_for_version_1(
    name: str, settings: BusSettings, services: list[Service], count: int
) -> BusSettings:
    """Version 1 subscribes and stops; ``count`` uploads are published for its session
    (without journal-first, so no catch-up source). The publishing settings."""
    plain = settings.model_copy(update={"journal_first": False})
    first, _ = version_1(name, settings)
    services.append(first)
    await first.start()
    await first.stop()
    async with Publisher(settings=plain) as publisher:
        for n in range(count):
            await publisher.publish(uploaded(n))
    return plain


async def test_a_dropped_handler_takes_its_subscription_and_held_messages_along(
    settings: BusSettings,
    services: list[Service],
    unique: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = unique("indexer")
    plain = await held_for_version_1(name, settings, services, 3)

    caplog.set_level(logging.WARNING, logger="bus.sessions")
    second = version_2(name, settings)
    services.append(second)
    await second.start()
    released = [r.getMessage() for r in caplog.records if r.name == "bus.sessions"]
    assert len(released) == 1, released
    assert "documents/uploaded/v1" in released[0]
    assert "3 message(s)" in released[0]
    async with Publisher(settings=plain) as publisher:
        await publisher.publish(uploaded(3))  # no subscription holds it any more
    await asyncio.sleep(0.5)
    await second.stop()

    # Version 1 again: it subscribes anew and sees only what comes from now on.
    again, seen = version_1(name, settings)
    services.append(again)
    await again.start()
    async with Publisher(settings=plain) as publisher:
        await publisher.publish(uploaded(4))
    await eventually(lambda: seen.total() >= 1, what="the new event")
    await asyncio.sleep(1)
    assert dict(seen) == {"file-4.txt": 1}


async def test_the_filters_of_the_last_start_are_what_is_stale(settings: BusSettings) -> None:
    redis = Redis.from_url(settings.redis_url)
    filters = SessionFilters(redis, f"{settings.namespace}.probe-1")
    try:
        assert await filters.stale(["a/b/c"]) == []
        assert await filters.stale(["a/b/c"], earlier=["+/+/+", "a/b/c"]) == ["+/+/+"]
        await filters.remember(["a/b/c", "$share/x/d/e/f"])
        assert await filters.stale(["a/b/c"], earlier=["+/+/+"]) == ["$share/x/d/e/f"]
        assert await redis.ttl(filters.key) == -1  # kept while the replica runs, however long
    finally:
        await redis.delete(filters.key)
        await redis.aclose()


async def test_what_a_dropped_filter_held_reaches_a_broader_handler_of_the_new_version(
    settings: BusSettings,
    services: list[Service],
    unique: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Version 2 takes every event instead of one type: the old, more specific filter is
    only unsubscribed (a temporary subscription to it would win the events over the
    new handler's broader one), and what it held is handled."""
    name = unique("auditor")
    plain = await held_for_version_1(name, settings, services, 3)

    second = Service(name, settings=settings)
    seen: Counter[str] = Counter()

    @second.on_every_event
    async def every(envelope: Envelope) -> None:
        seen[envelope.data["filename"]] += 1

    caplog.set_level(logging.WARNING, logger="bus.sessions")
    services.append(second)
    await second.start()
    async with Publisher(settings=plain) as publisher:
        await publisher.publish(uploaded(3))
    await eventually(lambda: seen.total() >= 4, what="the held events and the new one")
    assert dict(seen) == {f"file-{n}.txt": 1 for n in range(4)}
    released = [r.getMessage() for r in caplog.records if r.name == "bus.sessions"]
    assert len(released) == 1, released
    assert "documents/uploaded/v1" in released[0]
    assert "0 message(s)" in released[0]


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("a/b/c", "a/b/c", True), ("a/+/c", "a/b/+", True), ("a/#", "a", True),
        ("#", "x/y", True), ("a/b", "a/c", False), ("a/+", "a/b/c", False),
        ("+/+/+", "chorus/producers/read-1", True), ("a/b/c", "a/b", False),
    ],
)  # fmt: skip
def test_filters_overlap_when_a_topic_matches_both(a: str, b: str, overlap: bool) -> None:
    assert _overlap(a.split("/"), b.split("/")) is overlap
    assert _overlap(b.split("/"), a.split("/")) is overlap
