"""Two replicas of a service; one is killed with SIGKILL three times mid-stream."""

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from bus import BusSettings, Publisher
from bus._internal.broker import make_broker
from bus.runtime.stores import Stores
from tests.faults.conftest import ServiceProcess, consumer_env
from tests.faults.consumer import Effect, Reapplied, create_consumer
from tests.faults.counting import tally, wait_for_effects
from tests.helpers import eventually, uploaded

pytestmark = pytest.mark.timeout(300)

EVENTS = 3000
KILLS_AT = (600, 1400, 2200)


async def test_killing_a_replica_mid_stream_loses_nothing(
    settings: BusSettings, unique: Callable[[str], str], tmp_path: Path, report: list[str]
) -> None:
    name = unique("consumer")
    env = consumer_env(settings, name, CHORUS_TEST_DELAY="0.003")  # kills land in handlers
    target = "tests.faults.consumer:service"
    victim = ServiceProcess(target, "a", env, tmp_path)
    survivor = ServiceProcess(target, "b", env, tmp_path)
    # Open the Beanie models in this process, to count.
    counter = create_consumer(unique("counter"), settings)
    stores = await Stores.open(settings, counter.documents)
    try:
        await victim.start()
        await survivor.start()
        published = 0

        async def publish_all() -> None:
            nonlocal published
            async with Publisher(settings=settings) as publisher:
                for n in range(EVENTS):
                    await publisher.publish(uploaded(n))
                    published += 1
                    if n % 50 == 0:
                        await asyncio.sleep(0.01)  # a steady stream, not one burst

        async def chaos() -> None:
            for threshold in KILLS_AT:
                await eventually(lambda t=threshold: published >= t, within=120)  # type: ignore[misc]
                await victim.kill()
                await asyncio.sleep(0.5)
                await victim.start()

        await asyncio.gather(publish_all(), chaos())
        await wait_for_effects(EVENTS, within=120)
        result = await tally(EVENTS)
        by_a = await Effect.find(Effect.instance == "a").count()
        report.append(
            result.line(
                f"replica killed {victim.kills}x (SIGKILL)",
                f"; split a={by_a} b={result.handled - by_a}",
            )
        )
        assert survivor.alive
        assert result.lost == 0
        assert await Reapplied.find(Reapplied.instance == "b").count() == 0
    finally:
        for process in (victim, survivor):
            await process.stop()
        await stores.close()
        for instance in ("a", "b"):
            broker = make_broker(
                settings, client_id=settings.client_id(name, instance), reconnect=False
            )
            await broker.connect()
            await broker.stop()
