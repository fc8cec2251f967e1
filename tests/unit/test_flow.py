"""Several deliveries of a subscription in flight, PUBACKs in arrival order."""

from __future__ import annotations

import asyncio

import pytest

from bus.runtime.flow import Flow


class Acks:
    def __init__(self) -> None:
        self.sent: list[int] = []

    async def __call__(self, message: int) -> None:
        self.sent.append(message)


async def test_acks_go_in_arrival_order_whatever_order_the_work_ends_in() -> None:
    acks = Acks()
    flow: Flow[int] = Flow(4, acks)
    gates = {n: asyncio.Event() for n in range(4)}
    ended: list[int] = []

    def work(n: int):  # type: ignore[no-untyped-def]
        async def run() -> None:
            await gates[n].wait()
            ended.append(n)

        return run

    for n in range(4):
        await flow.admit(n, work(n))
    for n in (3, 1, 2):
        gates[n].set()
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    assert sorted(ended) == [1, 2, 3]
    assert acks.sent == []  # the first has not ended: nothing may be acknowledged
    gates[0].set()
    await flow.settled()
    assert ended[-1] == 0
    assert acks.sent == [0, 1, 2, 3]


async def test_no_more_than_the_limit_run_at_once_and_the_next_waits_for_a_place() -> None:
    flow: Flow[int] = Flow(2, Acks())
    running, peak = 0, 0
    release = asyncio.Event()

    async def work() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    await flow.admit(0, work)
    await flow.admit(1, work)
    third = asyncio.create_task(flow.admit(2, work))
    await asyncio.sleep(0.01)
    assert not third.done(), "the third waits for a place"
    release.set()
    await third
    await flow.settled()
    assert peak == 2


async def test_events_with_one_key_run_one_after_another_in_arrival_order() -> None:
    flow: Flow[int] = Flow(8, Acks())
    order: list[str] = []

    def work(name: str, delay: float):  # type: ignore[no-untyped-def]
        async def run() -> None:
            order.append(f"{name} starts")
            await asyncio.sleep(delay)
            order.append(f"{name} ends")

        return run

    await flow.admit(0, work("a1", 0.03), key="a")
    await flow.admit(1, work("b1", 0.0), key="b")
    await flow.admit(2, work("a2", 0.0), key="a")
    await flow.settled()
    assert order.index("a1 ends") < order.index("a2 starts")
    assert order.index("b1 ends") < order.index("a1 ends"), "another key runs alongside"


async def test_a_failed_delivery_is_not_acknowledged_and_does_not_hold_the_others() -> None:
    acks = Acks()
    flow: Flow[int] = Flow(2, acks)

    async def broken() -> None:
        raise RuntimeError("a bug")

    async def fine() -> None:
        return None

    await flow.admit(0, broken)
    await flow.admit(1, fine)
    await flow.settled()
    assert acks.sent == [1]


async def test_stop_cancels_what_is_in_flight_unacknowledged() -> None:
    acks = Acks()
    flow: Flow[int] = Flow(2, acks)
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    await flow.admit(0, forever)
    await asyncio.sleep(0)
    await flow.stop()
    assert cancelled.is_set()
    assert acks.sent == []


def test_a_flow_needs_a_place() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Flow(0, Acks())
