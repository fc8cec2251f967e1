"""Scheduled jobs: a cron expression, run once per tick however many replicas run.

Every started replica of a service keeps a clock for each of its schedules and, at each
tick, asks for the schedule's job under the tick as its key (``2026-11-29T20:05:00Z``).
Jobs are deduplicated by id (:func:`bus.jobs.queue.enqueue`), and their results are
kept as long as dedup records, so the first replica to ask gets the tick's run and the
others are refused: one run per tick, with no leader to elect and none to lose. The run
itself is an ordinary job: retries, timeout, dead letter, progress events and
``on_give_up``.

Why not arq's own ``cron``: it dedups by the same kind of id, but a job whose result is
not kept is forgotten as soon as it ends, and a replica whose clock fires a little later
runs the tick again (python-arq/arq#196); arq also runs its cron only in workers.

A tick that passes while no replica runs is skipped; a tick that comes while Redis is
unreachable is asked for once Redis is back (with that tick's key).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import croniter

log = logging.getLogger("bus.jobs.cron")

Clock = Callable[[], datetime]
"""The time now, aware (UTC): replaced in tests."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Schedule:
    """When a job runs.

    Attributes:
        expression: A cron expression in UTC: five fields (minute hour day month
            weekday), or six with seconds last (``*/10 * * * * *``: every ten seconds).
        job: The name of the service's job it runs.
    """

    expression: str
    job: str

    def __post_init__(self) -> None:
        if len(self.expression.split()) not in (5, 6) or not croniter.is_valid(self.expression):
            raise ValueError(f"not a cron expression: {self.expression!r}")

    @property
    def has_seconds(self) -> bool:
        """Whether the expression has a seconds field."""
        return len(self.expression.split()) == 6

    def next_tick(self, after: datetime) -> datetime:
        """The first tick strictly after ``after`` (aware, UTC)."""
        tick: datetime = croniter(self.expression, after.astimezone(UTC)).get_next(datetime)
        return tick.astimezone(UTC)

    def key(self, tick: datetime) -> str:
        """The job key of ``tick``: the same on every replica."""
        return tick.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Ask = Callable[[Schedule, datetime], Awaitable[bool]]
"""Asks for the schedule's job at a tick; False if another replica already did."""


async def keep(schedule: Schedule, ask: Ask, *, clock: Clock = _now) -> None:
    """Ask for ``schedule``'s job at each of its ticks, until cancelled."""
    tick = schedule.next_tick(clock())
    while True:
        delay = (tick - clock()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            queued = await ask(schedule, tick)
        except Exception:
            log.exception("%s: could not ask for the tick %s", schedule.job, schedule.key(tick))
        else:
            log.debug(
                "%s: tick %s %s", schedule.job, schedule.key(tick),
                "queued" if queued else "already asked for by another replica",
            )  # fmt: skip
        tick = schedule.next_tick(max(tick, clock()))


class Scheduler:
    """The clocks of one replica's schedules.

    Args:
        schedules: What to run when.
        ask: Asks for a schedule's job at a tick (the service's ``enqueue``).
        clock: The time now.
    """

    def __init__(self, schedules: list[Schedule], ask: Ask, *, clock: Clock = _now) -> None:
        self.schedules = schedules
        self._ask = ask
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start one clock per schedule."""
        self._tasks = [
            asyncio.create_task(keep(s, self._ask, clock=self._clock), name=f"cron-{s.job}")
            for s in self.schedules
        ]

    async def stop(self) -> None:
        """Stop the clocks (a job already asked for still runs)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
