"""Scheduled jobs against the real stack: one run per tick across replicas."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from bus import BusSettings, Service
from bus.jobs import JobContext
from bus.metrics import JOBS_ENQUEUED
from tests.helpers import counted, eventually, jobs_finished


def scheduled(name: str, settings: BusSettings, instance: str, runs: Counter[str]) -> Service:
    service = Service(name, settings=settings.model_copy(update={"instance": instance}))

    @service.cron("* * * * * */2", timeout=10)
    async def tidy(job: JobContext, tick: str) -> None:
        runs[tick] += 1

    return service


async def test_three_replicas_run_each_tick_once(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    runs: Counter[str] = Counter()
    name = unique("tidier")
    for instance in ("a", "b", "c"):
        service = scheduled(name, settings, instance, runs)
        services.append(service)
        await service.start(work=True)
    all_running = datetime.now(UTC)
    before = counted(JOBS_ENQUEUED, service=name, outcome="duplicate")

    def after_all_started() -> list[str]:
        """Ticks all three replicas asked for (on a slow machine, a replica that starts
        late misses a tick or two: its first ones are not refused three times)."""
        return [tick for tick in runs if datetime.fromisoformat(tick) > all_running]

    await eventually(lambda: len(after_all_started()) >= 3, what="three ticks to run")
    await eventually(lambda: jobs_finished(name), what="the runs asked for so far to end")

    print(f"ticks run: {dict(runs)}")
    assert set(runs.values()) == {1}, f"a tick ran more than once: {runs}"
    seconds = sorted(int(tick[17:19]) for tick in runs)
    assert all(s % 2 == 0 for s in seconds), "ticks fall on the schedule's seconds"

    # Every replica asked for those ticks: the two after the first were refused.
    def refused() -> float:
        return counted(JOBS_ENQUEUED, service=name, outcome="duplicate") - before

    await eventually(lambda: refused() >= 2 * len(after_all_started()),
                     within=5, what="two duplicates refused per tick")  # fmt: skip


async def test_a_stopped_replica_asks_for_no_more_ticks(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    runs: Counter[str] = Counter()
    service = scheduled(unique("tidier"), settings, "a", runs)
    services.append(service)
    await service.start()  # no worker: ticks are asked for, not run

    def asked() -> float:
        return counted(JOBS_ENQUEUED, service=service.name, outcome="queued")

    await eventually(lambda: asked() >= 2, what="two ticks to be asked for", within=10)
    await service.stop()
    before = asked()
    await asyncio.sleep(2.5)  # more than one tick: a clock left running would ask again
    assert asked() == before
    assert runs == Counter(), "no worker ran, so nothing ran"
