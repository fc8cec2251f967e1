"""1,000 events, each delivered twice with the same id, to two replicas."""

from collections.abc import Callable

import pytest

from bus import BusSettings, Publisher, Service
from tests.faults.consumer import create_consumer
from tests.faults.counting import tally, wait_for_effects
from tests.helpers import uploaded

pytestmark = pytest.mark.timeout(300)

EVENTS = 1000


async def test_each_event_delivered_twice_is_applied_once(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str], report: list[str]
) -> None:
    name = unique("consumer")
    for instance in ("a", "b"):
        replica = create_consumer(name, settings.model_copy(update={"instance": instance}))
        services.append(replica)
        await replica.start()

    async with Publisher(settings=settings) as publisher:
        for n in range(EVENTS):
            envelope = await publisher.publish(uploaded(n))
            await publisher.publish_envelope(envelope)  # the same id, right behind

    await wait_for_effects(EVENTS, within=120, settle=2.0)
    result = await tally(EVENTS)
    report.append(result.line(f"{EVENTS} events delivered twice each ({2 * EVENTS} deliveries)"))
    assert result.lost == 0
    assert result.reapplied == 0
