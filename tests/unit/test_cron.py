"""Schedules: cron expressions, tick keys, and the clock that asks at each tick."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bus import Service
from bus.jobs import JobContext
from bus.jobs.cron import Schedule, keep

T0 = datetime(2026, 11, 29, 20, 4, 59, 500_000, tzinfo=UTC)
_sleep = asyncio.sleep


@pytest.mark.parametrize("expression", ["", "bad", "61 * * * *", "* * *", "* * * * * * * *"])
def test_a_wrong_expression_is_refused_when_declared(expression: str) -> None:
    with pytest.raises(ValueError, match="not a cron expression"):
        Schedule(expression, "job")
    service = Service("svc")
    with pytest.raises(ValueError, match="not a cron expression"):
        service.cron(expression)
    assert service.jobs == []


def test_ticks_are_in_utc_and_keys_name_the_tick() -> None:
    every_five_minutes = Schedule("*/5 * * * *", "job")
    tick = every_five_minutes.next_tick(T0)
    assert tick == datetime(2026, 11, 29, 20, 5, tzinfo=UTC)
    assert every_five_minutes.key(tick) == "2026-11-29T20:05:00Z"
    assert every_five_minutes.next_tick(tick) == datetime(2026, 11, 29, 20, 10, tzinfo=UTC)

    every_ten_seconds = Schedule("* * * * * */10", "job")
    assert every_ten_seconds.has_seconds
    assert every_ten_seconds.next_tick(T0) == datetime(2026, 11, 29, 20, 5, 0, tzinfo=UTC)
    assert every_ten_seconds.next_tick(T0 + timedelta(seconds=1)) == datetime(
        2026, 11, 29, 20, 5, 10, tzinfo=UTC
    )


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)
        await _sleep(0)


async def test_the_clock_asks_once_per_tick_with_the_ticks_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    time = FakeTime(T0)
    monkeypatch.setattr(asyncio, "sleep", time.sleep)
    asked: list[str] = []
    enough = asyncio.Event()

    async def ask(schedule: Schedule, tick: datetime) -> bool:
        asked.append(schedule.key(tick))
        time.now += timedelta(milliseconds=30)  # asking takes a while
        if len(asked) == 3:
            enough.set()
        return True

    task = asyncio.create_task(keep(Schedule("* * * * * */10", "job"), ask, clock=time.clock))
    await enough.wait()
    task.cancel()
    assert asked == ["2026-11-29T20:05:00Z", "2026-11-29T20:05:10Z", "2026-11-29T20:05:20Z"]
    assert time.sleeps[0] == pytest.approx(0.5)


async def test_a_failing_ask_does_not_stop_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    time = FakeTime(T0)
    monkeypatch.setattr(asyncio, "sleep", time.sleep)
    asked: list[str] = []
    enough = asyncio.Event()

    async def ask(schedule: Schedule, tick: datetime) -> bool:
        asked.append(schedule.key(tick))
        if len(asked) == 2:
            enough.set()
        raise RuntimeError("no queue")

    task = asyncio.create_task(keep(Schedule("* * * * * */10", "job"), ask, clock=time.clock))
    await enough.wait()
    task.cancel()
    assert asked == ["2026-11-29T20:05:00Z", "2026-11-29T20:05:10Z"]


def test_a_scheduled_job_is_a_job_of_the_service() -> None:
    service = Service("svc")

    @service.cron("*/5 * * * *", timeout=60)
    async def purge(job: JobContext, tick: str) -> None:
        return None

    assert [j.name for j in service.jobs] == ["purge"]
    assert service.schedules == [Schedule("*/5 * * * *", "purge")]
    assert len(service.started_hooks) == len(service.stopping_hooks) == 1
