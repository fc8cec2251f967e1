"""Group commit of journal-first publishes: batching, duplicates, errors, the lone publish."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, BulkWriteError

from bus import BusSettings, Envelope, journal
from bus.groupcommit import GroupCommit
from bus.journal import JournalEntry, record_many
from bus.runtime import journal_batch, outbox
from bus.runtime.journal_batch import JournalBatcher
from bus.runtime.outbox import Outbox
from tests.helpers import uploaded


def _envelope(n: int, id: str | None = None) -> Envelope:
    return Envelope.wrap(uploaded(n), source="/test/1", id=id)


class FakeJournal:
    """A journal collection in memory: ids already stored answer as duplicates."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.stored: set[str] = set()
        self.writes: list[list[str]] = []
        self.delay = delay
        self.error: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def write(self, envelopes: list[Envelope]) -> list[bool]:
        self.writes.append([e.id for e in envelopes])
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        answers = []
        for envelope in envelopes:
            answers.append(envelope.id not in self.stored)
            self.stored.add(envelope.id)
        return answers


async def test_a_lone_publish_is_written_at_once_alone() -> None:
    fake = FakeJournal()
    batcher = JournalBatcher(fake.write, linger=0.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await batcher.record(_envelope(1)) is True
    assert loop.time() - start < 0.05, "no fixed delay when nothing else is pending"
    assert len(fake.writes) == 1
    assert await batcher.record(_envelope(2)) is True
    assert [len(w) for w in fake.writes] == [1, 1]


async def test_publishes_queued_behind_a_write_in_flight_share_the_next_one() -> None:
    fake = FakeJournal()
    fake.gate = asyncio.Event()
    batcher = JournalBatcher(fake.write)
    first = asyncio.create_task(batcher.record(_envelope(0)))
    await asyncio.sleep(0)  # the first write starts, alone, and is held in flight
    await asyncio.sleep(0)
    assert [len(w) for w in fake.writes] == [1]
    rest = [asyncio.create_task(batcher.record(_envelope(n))) for n in range(1, 31)]
    await asyncio.sleep(0)
    assert not first.done(), "nothing is answered before its write is acknowledged"
    fake.gate.set()
    assert await first is True
    assert all(await asyncio.gather(*rest))
    assert [len(w) for w in fake.writes] == [1, 30]
    assert batcher.writes == 2


async def test_a_batch_holds_at_most_max_batch() -> None:
    fake = FakeJournal(delay=0.001)
    batcher = JournalBatcher(fake.write, max_batch=10)
    results = await asyncio.gather(*(batcher.record(_envelope(n)) for n in range(35)))
    assert all(results)
    assert max(len(w) for w in fake.writes) <= 10
    assert sum(len(w) for w in fake.writes) == 35
    assert len(fake.writes) < 35


async def test_linger_waits_a_bounded_time_for_more() -> None:
    fake = FakeJournal()
    batcher = JournalBatcher(fake.write, linger=0.002)
    first = asyncio.create_task(batcher.record(_envelope(0)))
    await asyncio.sleep(0)
    second = asyncio.create_task(batcher.record(_envelope(1)))
    assert await first
    assert await second
    assert [len(w) for w in fake.writes] == [2]


async def test_a_duplicate_counts_as_recorded_for_its_publish_only() -> None:
    fake = FakeJournal()
    batcher = JournalBatcher(fake.write)
    redelivered = _envelope(0, id="derived-1")
    assert await batcher.record(redelivered) is True
    results = await asyncio.gather(
        batcher.record(_envelope(1)), batcher.record(redelivered), batcher.record(_envelope(2))
    )
    assert list(results) == [True, False, True]


async def test_an_error_reaches_every_publish_of_that_write_and_the_next_write_works() -> None:
    fake = FakeJournal()
    fake.error = AutoReconnect("connection refused")
    batcher = JournalBatcher(fake.write)
    results = await asyncio.gather(
        *(batcher.record(_envelope(n)) for n in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, AutoReconnect) for r in results)
    fake.error = None
    assert await batcher.record(_envelope(9)) is True


async def test_a_cancelled_publish_does_not_stop_the_others() -> None:
    fake = FakeJournal()
    fake.gate = asyncio.Event()
    batcher = JournalBatcher(fake.write)
    tasks = [asyncio.create_task(batcher.record(_envelope(n))) for n in range(3)]
    await asyncio.sleep(0)
    tasks[1].cancel()
    fake.gate.set()
    assert await tasks[0] is True
    assert await tasks[2] is True
    with pytest.raises(asyncio.CancelledError):
        await tasks[1]


# -- record_many: one unordered insert_many, duplicates per document ----------------------


def _fake_insert_many(
    monkeypatch: pytest.MonkeyPatch, error: Exception | None
) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    # No store here: Beanie builds a document only once initialised, so the entries are
    # stand-ins carrying the id.
    monkeypatch.setattr(journal, "_entry", lambda envelope: SimpleNamespace(id=envelope.id))

    async def noted() -> None:
        return None

    monkeypatch.setattr(journal, "_note_minutes", noted)

    async def insert_many(documents: list[JournalEntry], **kwargs: Any) -> None:
        calls.append({"ids": [d.id for d in documents], **kwargs})
        if error is not None:
            raise error

    monkeypatch.setattr(JournalEntry, "insert_many", insert_many)
    return calls


async def test_record_many_is_one_unordered_insert(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_insert_many(monkeypatch, None)
    envelopes = [_envelope(n) for n in range(3)]
    assert await record_many(envelopes) == [True, True, True]
    assert calls == [{"ids": [e.id for e in envelopes], "ordered": False}]
    assert await record_many([]) == []
    assert len(calls) == 1


async def test_record_many_answers_duplicate_keys_per_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    duplicates = BulkWriteError(
        {
            "writeErrors": [
                {"index": 1, "code": 11000, "errmsg": "E11000 duplicate key"},
                {"index": 3, "code": 11000, "errmsg": "E11000 duplicate key"},
            ],
            "writeConcernErrors": [],
            "nInserted": 2,
        }
    )
    _fake_insert_many(monkeypatch, duplicates)
    assert await record_many([_envelope(n) for n in range(4)]) == [True, False, True, False]


async def test_record_many_raises_any_other_write_error(monkeypatch: pytest.MonkeyPatch) -> None:
    mixed = BulkWriteError(
        {
            "writeErrors": [
                {"index": 0, "code": 11000, "errmsg": "E11000 duplicate key"},
                {"index": 1, "code": 2, "errmsg": "bad value"},
            ],
            "writeConcernErrors": [],
            "nInserted": 0,
        }
    )
    _fake_insert_many(monkeypatch, mixed)
    with pytest.raises(BulkWriteError):
        await record_many([_envelope(n) for n in range(2)])


# -- the outbox: each envelope sent only after its write was acknowledged -----------------


async def test_the_outbox_sends_each_envelope_only_after_its_journal_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeJournal(delay=0.002)
    monkeypatch.setattr(journal_batch, "record_many", fake.write)
    sent: list[str] = []

    async def send(broker: object, envelope: Envelope, topic: str, **_: object) -> None:
        assert envelope.id in fake.stored, "sent before its journal write"
        sent.append(envelope.id)

    monkeypatch.setattr(outbox, "send", send)
    box = Outbox(None, "svc", BusSettings())  # type: ignore[arg-type]  # send is replaced
    assert box.journal_first
    box.opened = True
    envelopes = [_envelope(n) for n in range(40)]
    await asyncio.gather(*(box.send(e, "documents/uploaded/v1") for e in envelopes))
    assert sorted(sent) == sorted(e.id for e in envelopes)
    assert len(fake.writes) < len(envelopes)


async def test_the_outbox_sends_nothing_when_the_journal_write_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeJournal()
    fake.error = AutoReconnect("store restarting")
    monkeypatch.setattr(journal_batch, "record_many", fake.write)
    sent: list[str] = []

    async def send(broker: object, envelope: Envelope, topic: str, **_: object) -> None:
        sent.append(envelope.id)

    monkeypatch.setattr(outbox, "send", send)
    box = Outbox(None, "svc", BusSettings())  # type: ignore[arg-type]  # send is replaced
    box.opened = True
    results = await asyncio.gather(
        *(box.send(_envelope(n), "t") for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, AutoReconnect) for r in results)
    assert sent == []


# -- busy_linger: wait for more only while items come together ---------------------------


async def test_busy_linger_groups_a_trickle_only_after_a_shared_commit() -> None:
    sizes: list[int] = []

    async def commit(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return items

    steps: GroupCommit[int, int] = GroupCommit(commit, busy_linger=0.5)
    started = asyncio.get_running_loop().time()
    await steps.submit(0)  # alone, and not busy: at once
    assert asyncio.get_running_loop().time() - started < 0.25
    await asyncio.gather(*(steps.submit(n) for n in range(3)))  # together: one commit of 3

    async def trickle() -> list[int]:
        submitted = []
        for n in range(5):  # one per turn of the loop, as deliveries arrive
            submitted.append(asyncio.create_task(steps.submit(n)))
            await asyncio.sleep(0)
        return await asyncio.gather(*submitted)

    assert await trickle() == list(range(5))
    assert sizes == [1, 3, 5]
    await asyncio.sleep(0.1)  # a pause: no longer busy
    started = asyncio.get_running_loop().time()
    await steps.submit(9)
    assert asyncio.get_running_loop().time() - started < 0.25
    assert sizes == [1, 3, 5, 1]
