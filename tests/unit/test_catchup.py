"""Catch-up from the journal, with the journal read and Redis replaced by fakes.

``bus.runtime.catchup.since`` is monkeypatched to return entries built in the test, and
``deliver`` is a fake pipeline that records what it gets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from bus.constants import ALIVE_KEY
from bus.envelope import Envelope
from bus.handler import Handler
from bus.journal import JournalEntry
from bus.runtime import Delivery, Outcome, Via, catchup
from bus.runtime.catchup import MARGIN, CatchUp
from contracts import DocumentFailed, DocumentUploaded
from tests.helpers import uploaded

CLIENT_ID = "reader-1"
UPLOADED = DocumentUploaded.contract.type


async def on_uploaded(event: DocumentUploaded) -> None: ...


async def on_failed(event: DocumentFailed) -> None: ...


async def on_every_event(envelope: Envelope) -> None: ...


HANDLERS = [Handler.build(on_uploaded, DocumentUploaded), Handler.build(on_failed, DocumentFailed)]


def entry(envelope_data: dict[str, Any]) -> JournalEntry:
    """A journal entry as ``since`` returns it (only ``type`` and ``envelope`` are read;
    ``model_construct`` skips Beanie's need for an initialised collection)."""
    made: JournalEntry = JournalEntry.model_construct(
        type=envelope_data["type"], envelope=envelope_data
    )
    return made


def journaled(n: int) -> tuple[Envelope, JournalEntry]:
    envelope = Envelope.wrap(uploaded(n), source="/uploader/1")
    return envelope, entry(envelope.model_dump(mode="json", exclude_none=True))


@dataclass
class Journal:
    """Stands in for :func:`bus.journal.since`, recording each read."""

    entries: list[JournalEntry] = field(default_factory=list)
    reads: list[tuple[list[str], datetime]] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    async def since(self, types: list[str], moment: datetime) -> list[JournalEntry]:
        self.reads.append((types, moment))
        if self.failures:
            raise self.failures.pop(0)
        return self.entries


@dataclass
class FakePipeline:
    """A fake ``deliver``: records each delivery, answers with ``outcomes`` in turn
    (HANDLED when they run out) and sets ``delivered``."""

    outcomes: list[Outcome] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    delivered: asyncio.Event = field(default_factory=asyncio.Event)

    async def deliver(self, delivery: Delivery) -> Outcome:
        self.deliveries.append(delivery)
        self.delivered.set()
        return self.outcomes.pop(0) if self.outcomes else Outcome.HANDLED


class FakeRedis:
    """The two commands catch-up uses."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = dict(values or {})
        self.expiries: dict[str, int | None] = {}

    async def get(self, key: str) -> str | None:
        return self.values.get(key)

    async def set(self, key: str, value: str, ex: int | None = None) -> None:
        self.values[key], self.expiries[key] = value, ex


@dataclass
class Connection:
    connected: bool = True


@pytest.fixture
def journal(monkeypatch: pytest.MonkeyPatch) -> Journal:
    fake = Journal()
    monkeypatch.setattr(catchup, "since", fake.since)
    monkeypatch.setattr(catchup, "PASSES", (0.0,))
    return fake


@pytest.fixture
async def pipeline() -> FakePipeline:
    return FakePipeline()  # created in the test's loop


def catch_up_for(
    pipeline: FakePipeline, redis: FakeRedis | None = None, handlers: list[Handler] = HANDLERS
) -> CatchUp:
    return CatchUp(
        service="reader", client_id=CLIENT_ID, handlers=handlers, deliver=pipeline.deliver,
        redis=cast(Redis, redis or FakeRedis()), connection=Connection(), ttl=300,
    )  # fmt: skip


@pytest.fixture
async def started() -> AsyncIterator[list[CatchUp]]:
    """Catch-ups a test started: stopped afterwards, whatever happened (their tasks must
    not outlive the test)."""
    catch_ups: list[CatchUp] = []
    yield catch_ups
    for catch_up in catch_ups:
        await catch_up.stop()


# -- replay_since ---------------------------------------------------------------------


async def test_journaled_events_are_delivered_already_decoded_via_catch_up(
    journal: Journal, pipeline: FakePipeline
) -> None:
    (first, entry1), (second, entry2) = journaled(1), journaled(2)
    journal.entries = [entry1, entry2]
    pipeline.outcomes = [Outcome.HANDLED, Outcome.DUPLICATE]
    start = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)

    handled = await catch_up_for(pipeline).replay_since(start)

    assert handled == 1
    assert journal.reads == [([UPLOADED, DocumentFailed.contract.type], start)]
    assert [d.decoded.envelope.id if d.decoded else None for d in pipeline.deliveries] == [
        first.id,
        second.id,
    ]
    for delivery, envelope in zip(pipeline.deliveries, (first, second), strict=True):
        assert delivery.via is Via.CATCH_UP
        assert delivery.handler is HANDLERS[0]
        assert delivery.topic == DocumentUploaded.contract.topic
        assert delivery.replay_of is None
        assert delivery.decoded is not None
        assert delivery.decoded.argument == DocumentUploaded.model_validate(envelope.data)
        assert Envelope.from_bytes(delivery.payload) == envelope


async def test_poison_in_the_journal_is_skipped(journal: Journal, pipeline: FakePipeline) -> None:
    envelope, good = journaled(1)
    broken = envelope.model_dump(mode="json", exclude_none=True)
    broken.update(id="broken", data={"owner": "bob"})  # fails the contract
    journal.entries = [entry(broken), good]

    handled = await catch_up_for(pipeline).replay_since(datetime.now(UTC))

    assert handled == 1
    assert [d.decoded.envelope.id if d.decoded else None for d in pipeline.deliveries] == [
        envelope.id
    ]


async def test_only_handlers_of_one_event_type_are_caught_up(
    journal: Journal, pipeline: FakePipeline
) -> None:
    every = Handler.build(on_every_event, None)

    handled = await catch_up_for(pipeline, handlers=[every]).replay_since(datetime.now(UTC))

    assert handled == 0
    assert journal.reads == []


# -- when it runs -----------------------------------------------------------------------


async def test_start_catches_up_from_before_the_replica_was_last_alive(
    journal: Journal, pipeline: FakePipeline, started: list[CatchUp]
) -> None:
    journal.entries = [journaled(1)[1]]
    last_alive = time.time() - 3600
    redis = FakeRedis({ALIVE_KEY.format(client_id=CLIENT_ID): str(last_alive)})
    catch_up = catch_up_for(pipeline, redis)
    started.append(catch_up)

    await catch_up.start()
    key = ALIVE_KEY.format(client_id=CLIENT_ID)
    assert float(redis.values[key]) > last_alive  # alive again, from start on
    assert redis.expiries[key] == 300
    async with asyncio.timeout(5):
        await pipeline.delivered.wait()

    [(_, moment)] = journal.reads
    assert moment == datetime.fromtimestamp(last_alive - MARGIN, UTC)


async def test_a_replica_never_alive_before_does_not_catch_up(
    journal: Journal, pipeline: FakePipeline, started: list[CatchUp]
) -> None:
    redis = FakeRedis()
    catch_up = catch_up_for(pipeline, redis)
    started.append(catch_up)
    before = time.time()

    await catch_up.start()

    assert len(catch_up.tasks) == 1  # the heartbeat only: no catch-up was scheduled
    assert float(redis.values[ALIVE_KEY.format(client_id=CLIENT_ID)]) >= before


async def test_a_reconnection_catches_up_from_before_the_gap(
    journal: Journal, pipeline: FakePipeline, started: list[CatchUp]
) -> None:
    journal.entries = [journaled(1)[1]]
    catch_up = catch_up_for(pipeline)
    started.append(catch_up)
    last_up = time.time() - 30

    await catch_up.reconnected(last_up)
    async with asyncio.timeout(5):
        await pipeline.delivered.wait()
    await catch_up.stop()

    [(_, moment)] = journal.reads
    assert moment == datetime.fromtimestamp(last_up - MARGIN, UTC)
    assert pipeline.deliveries[0].via is Via.CATCH_UP


async def test_an_unreachable_journal_is_read_again_at_the_next_pass(
    journal: Journal,
    pipeline: FakePipeline,
    started: list[CatchUp],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(catchup, "PASSES", (0.0, 0.0))
    journal.entries = [journaled(1)[1]]
    journal.failures = [ConnectionError("journal restarting")]
    catch_up = catch_up_for(pipeline)
    started.append(catch_up)

    await catch_up.reconnected(time.time())
    async with asyncio.timeout(5):
        await pipeline.delivered.wait()
    await catch_up.stop()

    assert len(journal.reads) == 2
    assert len(pipeline.deliveries) == 1
