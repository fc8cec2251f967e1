"""The console's reading of the replicas' own metrics, without a replica: the quantiles from
histogram buckets, the parsing of a real exposition, and what a round of readings adds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bus.discovery import Health, Presence
from bus.tools.console.live import Presences, Traffic
from bus.tools.console.metrics import Measurements
from bus.tools.console.pages.numbers import chart, rows
from bus.tools.console.scrape import (
    ScrapeError,
    is_loopback,
    metrics_url,
    minus,
    parse,
    plus,
    quantile,
    scrape,
)

INF = float("inf")
BUCKETS = ((0.01, 10.0), (0.1, 90.0), (1.0, 100.0), (INF, 100.0))
"""100 observations: 10 up to 10 ms, 80 more up to 100 ms, the last 10 up to 1 s."""


def test_quantiles_interpolate_within_the_bucket_the_rank_falls_in() -> None:
    # rank 50 is the 40th of the 80 in (0.01, 0.1]: halfway through it
    assert quantile(0.5, BUCKETS) == pytest.approx(0.01 + 0.09 * 40 / 80)
    # rank 99 is the 9th of the 10 in (0.1, 1]
    assert quantile(0.99, BUCKETS) == pytest.approx(0.1 + 0.9 * 9 / 10)
    # rank 5 in the lowest bucket, which starts at 0
    assert quantile(0.05, BUCKETS) == pytest.approx(0.005)


def test_a_rank_in_the_infinite_bucket_gives_the_highest_finite_bound() -> None:
    slow = ((0.01, 1.0), (0.1, 2.0), (INF, 10.0))
    assert quantile(0.99, slow) == 0.1
    assert quantile(0.5, ((0.01, 0.0), (INF, 0.0))) is None
    assert quantile(0.5, ()) is None


def test_the_buckets_of_a_real_exposition_give_quantiles_where_the_observations_are() -> None:
    registry = CollectorRegistry()
    seconds = Histogram("chorus_handler_seconds", "h", ["service", "type"], registry=registry,
                        buckets=(0.001, 0.01, 0.1, 1, 10))  # fmt: skip
    events = Counter("chorus_events", "e", ["service", "type", "outcome"], registry=registry)
    retries = Counter("chorus_handler_retries", "r", ["service", "type"], registry=registry)
    queue = Gauge("chorus_jobs_in_queue", "q", ["service"], registry=registry)
    for _ in range(60):  # 60 at 5 ms, of two types
        seconds.labels("indexer", "a.v1").observe(0.005)
    for _ in range(40):  # 40 at 500 ms
        seconds.labels("indexer", "b.v1").observe(0.5)
    seconds.labels("other", "a.v1").observe(5)  # another service's: left out
    events.labels("indexer", "a.v1", "handled").inc(99)
    events.labels("indexer", "b.v1", "dead-lettered").inc(1)
    retries.labels("indexer", "b.v1").inc(3)
    queue.labels("indexer").set(7)

    reading = parse(generate_latest(registry).decode(), "indexer")
    assert reading.buckets == ((0.001, 0), (0.01, 60), (0.1, 60), (1, 100), (10, 100), (INF, 100))
    assert (reading.events, reading.retries, reading.jobs_in_queue) == (100, 3, 7)
    p50, p99 = quantile(0.5, reading.buckets), quantile(0.99, reading.buckets)
    assert p50 is not None
    assert 0.001 < p50 <= 0.01
    assert p99 is not None
    assert 0.1 < p99 <= 1
    assert parse(generate_latest(registry).decode(), "nobody").buckets == ()


def test_histograms_subtract_and_add_and_a_restart_starts_from_zero() -> None:
    before = ((0.1, 2.0), (INF, 3.0))
    now = ((0.1, 5.0), (INF, 7.0))
    assert minus(now, before) == ((0.1, 3.0), (INF, 4.0))
    restarted = ((0.1, 1.0), (INF, 1.0))
    assert minus(restarted, before) == restarted
    assert plus(now, before) == ((0.1, 7.0), (INF, 10.0))
    assert plus((), now) == now
    assert plus(now, ((1.0, 9.0), (INF, 9.0))) == now  # other bounds: not added


def test_only_loopback_http_is_scraped() -> None:
    assert is_loopback("http://127.0.0.1:41234")
    assert is_loopback("http://localhost:9000/")
    assert is_loopback("http://[::1]:9000")
    assert not is_loopback("http://10.0.0.5:9000")
    assert not is_loopback("https://127.0.0.1:9000")
    assert not is_loopback("http://metadata.example:80")


def test_the_metrics_url_keeps_only_the_ops_url_s_host_and_port() -> None:
    assert metrics_url("http://127.0.0.1:9000") == "http://127.0.0.1:9000/metrics"
    assert metrics_url("http://127.0.0.1:9000/admin/reset?x=1#top") == (
        "http://127.0.0.1:9000/metrics"
    )
    assert metrics_url("http://user:secret@localhost:9000/x") == "http://localhost:9000/metrics"
    assert metrics_url("http://[::1]:9000/y?") == "http://[::1]:9000/metrics"
    assert metrics_url("http://127.0.0.1/") == "http://127.0.0.1/metrics"
    for refused in ("http://10.0.0.5:9000", "http://127.0.0.1:99999", "file:///etc/passwd"):
        with pytest.raises(ScrapeError, match=r"^not a loopback address$"):
            metrics_url(refused)


def answering(handler: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def streamed(status: int, body: str | bytes, **headers: str) -> httpx.Response:
    """An answer as a network transport gives it: not read yet."""

    async def chunks() -> AsyncIterator[bytes]:
        yield body.encode() if isinstance(body, str) else body

    return httpx.Response(status, headers=headers, content=chunks())


async def test_a_scrape_asks_for_metrics_whatever_path_and_query_the_presence_gives() -> None:
    asked: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url)
        return streamed(200, 'chorus_events_total{service="indexer"} 100.0\n')

    async with answering(handler) as client:
        found = await scrape(client, "http://127.0.0.1:9000/admin/reset?all=1", "indexer")
    assert [str(u) for u in asked] == ["http://127.0.0.1:9000/metrics"]
    assert found.events == 100


async def test_an_endless_answer_stops_at_the_size_limit_as_too_large() -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:
            sent += 1
            yield b"#" * 65536

    async with answering(lambda _: httpx.Response(200, content=endless())) as client:
        with pytest.raises(ScrapeError, match=r"^too large$"):
            await scrape(client, "http://127.0.0.1:9000", "indexer", limit=1024 * 1024)
    assert sent <= 17  # it stopped reading just past the limit

    big = streamed(200, b"", **{"content-length": str(10**9)})
    async with answering(lambda _: big) as client:
        with pytest.raises(ScrapeError, match=r"^too large$"):  # said so up front
            await scrape(client, "http://127.0.0.1:9000", "indexer")


async def test_an_answer_that_trickles_is_cut_at_the_total_deadline() -> None:
    async def trickle() -> AsyncIterator[bytes]:
        while True:  # every byte well within a read timeout, the whole never done
            await asyncio.sleep(0.02)
            yield b"#"

    loop = asyncio.get_running_loop()
    began = loop.time()
    async with answering(lambda _: httpx.Response(200, content=trickle())) as client:
        with pytest.raises(ScrapeError, match=r"^timed out$"):
            await scrape(client, "http://127.0.0.1:9000", "indexer", deadline=0.3)
    assert loop.time() - began < 1.0


async def test_the_reasons_shown_are_generic_never_the_answer_s_text() -> None:
    answers = {
        "9001": streamed(200, "<script>alert(1)</script> 1 2 3\n"),
        "9002": streamed(500, "secret internal error"),
        "9003": streamed(302, "", location="http://10.0.0.1/"),
        "9004": streamed(200, b"\xff\xfe not utf-8"),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.port == 9005:
            raise httpx.ConnectError("connection refused by 'attacker text'")
        return answers[str(request.url.port)]

    measurements = Measurements()
    live = [presence(str(n), ops_url=f"http://127.0.0.1:900{n}") for n in range(1, 6)]
    live.append(presence("6", ops_url="http://10.1.2.3:80/<b>"))
    async with answering(handler) as client:
        await measurements.scrape_once(client, live)
    assert measurements.services["indexer"].problems == [
        "1: unreadable metrics", "2: HTTP 500", "3: HTTP 302", "4: unreadable metrics",
        "5: unreachable", "6: not a loopback address",
    ]  # fmt: skip


async def test_a_large_answer_is_parsed_off_the_event_loop() -> None:
    line = 'chorus_events_total{service="indexer",type="t%d",outcome="handled"} 1.0\n'
    text = "# TYPE chorus_events counter\n" + "".join(line % n for n in range(40_000))
    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(ticking())
    async with answering(lambda _: streamed(200, text)) as client:
        found = await scrape(client, "http://127.0.0.1:9000", "indexer")
    ticker.cancel()
    assert found.events == 40_000
    assert ticks >= 3  # the loop ran while it parsed


T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def presence(instance: str = "0", **changes: Any) -> Presence:
    fields: dict[str, Any] = {
        "service": "indexer", "instance": instance, "client_id": f"indexer-{instance}",
        "version": "1", "host": "box", "pid": 100, "started_at": T0 - timedelta(hours=1),
        "heartbeat_at": T0, "heartbeat_interval": 5.0, "health": Health(broker=True),
        "ops_url": f"http://127.0.0.1:900{instance}",
    }  # fmt: skip
    return Presence(**(fields | changes))


def reading(events: float, fast: float, slow: float, **changes: Any) -> Any:
    buckets = ((0.01, fast), (1.0, fast + slow), (INF, fast + slow))
    return replace(parse("", "indexer"), events=events, buckets=buckets, **changes)


def test_a_round_of_readings_adds_what_each_replica_did_since_the_last() -> None:
    measurements = Measurements(since=T0)
    a, b = presence("0"), presence("1")
    measurements.take([(a, reading(10, 10, 0)), (b, reading(5, 5, 0))], now=100.0)
    indexer = measurements.services["indexer"]
    assert (indexer.measured, list(indexer.points)) == (2, [])  # starting lines only

    measurements.take(
        [(a, reading(30, 28, 2, retries=4.0, jobs_in_queue=3.0)), (b, reading(25, 25, 0))],
        now=102.0,
    )
    [point] = indexer.points
    assert (point.events, point.seconds, point.rate) == (40, 2.0, 20.0)
    assert point.buckets == ((0.01, 38), (1.0, 40), (INF, 40))
    assert (point.retries, point.jobs_in_queue) == (4, 3)
    summary = indexer.summary(now=102.0)
    assert summary is not None
    assert summary.p50 == pytest.approx(0.01 * 20 / 38)
    assert summary.p99 == pytest.approx(0.01 + 0.99 * (39.6 - 38) / 2)

    # b restarted (another pid, counting from 0); a did nothing; c serves no metrics.
    restarted = presence("1", pid=200)
    measurements.take(
        [(a, reading(30, 28, 2)), (restarted, reading(3, 3, 0))], [presence("2")], now=104.0
    )
    assert indexer.points[-1].events == 0  # b's new process: a starting line
    assert (indexer.measured, indexer.unmeasured) == (2, 1)
    assert indexer.summary(now=104.0 + 61) is None  # the last minute had nothing


def test_a_replica_started_while_the_console_watched_counts_from_its_first_reading() -> None:
    measurements = Measurements(since=T0)
    new = presence("0", started_at=T0 + timedelta(seconds=5))
    measurements.take([(new, reading(4, 4, 0))], now=50.0)
    assert measurements.services["indexer"].points[-1].events == 4


def test_the_table_says_no_metrics_for_a_service_whose_replicas_serve_none() -> None:
    presences = Presences()
    unserved = presence("0", service="mailer", client_id="mailer-0", ops_url=None)
    presences.update({"mailer": unserved, "indexer": presence("0")}, {})
    measurements = Measurements(since=T0)
    measurements.take([(presence("0"), "ConnectError")], [unserved], now=10.0)
    found = {row.service: row for row in rows(presences, Traffic(), measurements)}
    assert found["mailer"].measured is None
    assert found["mailer"].missing.startswith("no metrics (no replica says")
    assert found["indexer"].measured is None
    assert found["indexer"].missing == "no metrics: 0: ConnectError"


def test_a_chart_breaks_its_line_at_a_gap_and_draws_a_lone_point_as_a_dot() -> None:
    svg = chart({"p50": [(0.0, 1.0), (0.5, 2.0), (0.6, None), (1.0, 4.0)]}, caption="max {top}",
                label="l")  # fmt: skip
    assert svg.count("<polyline") == 1
    assert 'points="0.0,26.0 150.0,18.0"' in svg  # 4 is the top: 2 is halfway up
    assert '<circle class="p50" cx="300.0" cy="2.0"' in svg
    assert ">max 4<" in svg
