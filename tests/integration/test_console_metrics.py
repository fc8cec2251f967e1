"""The console reads a real replica's ``/metrics``, found through its presence on the real
broker, and turns what it handled between two readings into a rate and handler quantiles."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from bus import BusSettings, Publisher, Service
from bus.discovery import Presence, presence_feed
from bus.ops import serve_ops
from bus.tools.console.metrics import Measurements
from bus.tools.console.scrape import ScrapeError, quantile, scrape
from contracts import DocumentUploaded
from tests.faults.conftest import free_port
from tests.helpers import eventually, uploaded

HANDLER_SECONDS = 0.06
"""What each handling takes at least: its time falls in the (0.05, 0.1] bucket or above."""


async def presence_of(settings: BusSettings, service: Service) -> Presence:
    async with presence_feed(settings) as feed:
        found: list[Presence] = []

        async def announced() -> bool:
            await feed.next(within=0.5)
            found[:] = [p for p in feed.roster.presences.values() if p.service == service.name]
            return bool(found)

        await eventually(announced, within=10, what="the replica's presence")
        return found[0]


async def test_the_console_reads_a_replica_s_metrics_and_its_handler_quantiles(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    service = Service(unique("measured"), settings=settings)
    handled: list[str] = []

    @service.on(DocumentUploaded)
    async def slowly(event: DocumentUploaded) -> None:
        await asyncio.sleep(HANDLER_SECONDS)
        handled.append(event.filename)

    serve_ops(service, 0)
    services.append(service)
    await service.start()
    presence = await presence_of(settings, service)
    ops_url = presence.ops_url
    assert ops_url is not None

    measurements = Measurements()  # it watched before the replica started: a starting line
    async with httpx.AsyncClient(timeout=10) as client:
        await measurements.scrape_once(client, [presence])
        numbers = measurements.services[service.name]
        assert (numbers.measured, numbers.problems, list(numbers.points)) == (1, [], [])

        async with Publisher(settings=settings) as publisher:
            for n in range(8):
                await publisher.publish(uploaded(n))
        await eventually(lambda: len(handled) == 8, within=30, what="8 events handled")

        async def all_counted() -> bool:
            # Counted once the outcome is recorded, a round trip after the handler returns.
            return (await scrape(client, ops_url, service.name)).events == 8

        await eventually(all_counted, within=10, what="the 8 events in /metrics")
        await measurements.scrape_once(client, [presence])

    [point] = numbers.points
    assert point.events == 8
    assert point.buckets[-1][1] == 8  # every handling timed once
    p50, p99 = quantile(0.5, point.buckets), quantile(0.99, point.buckets)
    assert p50 is not None
    assert p99 is not None
    assert HANDLER_SECONDS <= p50 <= p99
    summary = numbers.summary()
    assert summary is not None
    assert summary.p50 == p50
    assert summary.retries == 0
    assert summary.jobs_in_queue is None  # it declares no jobs


async def test_a_replica_that_does_not_answer_is_reported_not_counted(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    service = Service(unique("silent"), settings=settings)

    @service.on(DocumentUploaded)
    async def nothing(event: DocumentUploaded) -> None:
        """Nothing."""

    services.append(service)
    await service.start()
    presence = await presence_of(settings, service)
    assert presence.ops_url is None
    closed = presence.model_copy(update={"ops_url": f"http://127.0.0.1:{free_port()}"})
    elsewhere = presence.model_copy(update={"instance": "2", "ops_url": "http://192.0.2.1:80"})

    measurements = Measurements()
    async with httpx.AsyncClient(timeout=10) as client:
        await measurements.scrape_once(client, [presence, closed, elsewhere])
    numbers = measurements.services[service.name]
    assert (numbers.measured, numbers.unmeasured) == (0, 3)
    assert any(p.startswith("1: ") for p in numbers.problems), numbers.problems  # refused
    assert "2: not a loopback address" in numbers.problems
    assert not numbers.points


@asynccontextmanager
async def hostile_replica(kind: str) -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback HTTP server answering ``/metrics`` forever: ``endless`` as fast as it
    can, ``trickle`` a byte every 50 ms. Yields its ops URL and the request lines read."""
    asked: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        asked.append((await reader.readline()).decode().strip())
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n")
        try:
            while True:
                if kind == "endless":
                    writer.write(b"# filler\n" * 6554)
                else:
                    writer.write(b"#")
                    await asyncio.sleep(0.05)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/private?token=1", asked
    finally:
        server.close()


@pytest.mark.parametrize(("kind", "reason"), [("endless", "too large"), ("trickle", "timed out")])
async def test_a_replica_answering_forever_is_cut_off(kind: str, reason: str) -> None:
    loop = asyncio.get_running_loop()
    async with hostile_replica(kind) as (ops_url, asked), httpx.AsyncClient(timeout=2) as client:
        began = loop.time()
        with pytest.raises(ScrapeError, match=rf"^{reason}$"):
            await scrape(client, ops_url, "indexer", limit=1024 * 1024, deadline=1.0)
        assert loop.time() - began < 1.8
    assert asked == ["GET /metrics HTTP/1.1"]  # its path and query were not asked for
