"""The measurements, each returning a flat dict of numbers."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import zmqtt
from faststream.mqtt import MQTTBroker
from faststream.security import SASLPlaintext
from redis.asyncio import Redis

from bench.consumer import COUNTER, create_counter
from bus import BusSettings, Envelope, Publisher, Service
from bus._internal.broker import make_broker
from bus.jobs import JobContext
from bus.security import OPS, Credential, CredentialStore
from tests.helpers import uploaded

TOPIC = "documents/uploaded/v1"


def _ids() -> str:
    return uuid.uuid4().hex[:8]


async def _publish_many(settings: BusSettings, count: int, *, tasks: int = 8) -> float:
    """Publish ``count`` events from ``tasks`` concurrent publishers; returns seconds."""
    per_task = count // tasks
    start = time.perf_counter()

    async def one(k: int) -> None:
        async with Publisher(settings=settings) as publisher:
            for n in range(per_task):
                await publisher.publish(uploaded(k * per_task + n))

    await asyncio.gather(*(one(k) for k in range(tasks)))
    return time.perf_counter() - start


async def _wait(check: Callable[[], Awaitable[bool]], within: float) -> None:
    deadline = time.monotonic() + within
    while not await check() and time.monotonic() < deadline:  # noqa: ASYNC110 - another process counts
        await asyncio.sleep(0.02)


# -- 1. one consumer: bus vs bare FastStream vs bare zmqtt ------------------------------
#
# Each consumer is subscribed, then ``count`` events are published by eight concurrent
# publishers; the rate is events over the time from the first publish to the last one
# handled. A consumer faster than the publishers shows the publish rate, reported too.


async def consumer_throughput(settings: BusSettings, count: int) -> dict[str, Any]:
    """Events/s through each kind of consumer, same topic, same load."""
    results: dict[str, Any] = {"events": count}
    kinds = (("bus", _bus), ("faststream", _faststream), ("zmqtt", _zmqtt))
    for kind, run in kinds:
        rate, publish_rate = await run(settings, count)
        results[f"{kind}_events_per_s"] = round(rate, 1)
        results[f"{kind}_publish_per_s"] = round(publish_rate, 1)
    bus, fs, raw = (results[f"{k}_events_per_s"] for k, _ in kinds)
    results["bus_vs_faststream"] = round(bus / fs, 3)
    results["bus_vs_zmqtt"] = round(bus / raw, 3)
    results["faststream_vs_zmqtt"] = round(fs / raw, 3)
    return results


async def _load(
    settings: BusSettings, count: int, handled: Callable[[], Awaitable[bool]]
) -> tuple[float, float]:
    start = time.perf_counter()
    published = await _publish_many(settings, count)
    await _wait(handled, within=600)
    return count / (time.perf_counter() - start), count / published


async def _bus(settings: BusSettings, count: int) -> tuple[float, float]:
    """The bus: QoS 1 shared persistent subscription, envelope + contract validation,
    Redis dedup claim and record, ack after."""
    service = create_counter(f"bench-bus-{_ids()}", settings)
    redis = Redis.from_url(settings.redis_url)
    key = COUNTER.format(run=service.name)
    await service.start()
    try:
        return await _load(settings, count, lambda: _counter_at_least(redis, key, count))
    finally:
        await service.stop()
        await _forget(settings, service.client_id)
        await redis.aclose()


async def _counter_at_least(redis: Redis, key: str, count: int) -> bool:
    return int(await redis.get(key) or 0) >= count


def _ops(settings: BusSettings) -> Credential:
    """The bare clients log in as ``ops``, as the bus's command line does."""
    credential = CredentialStore(settings.credentials_dir).identity(OPS)
    if credential is None:
        raise SystemExit(f"no {OPS} credential in {settings.credentials_dir}: run make up")
    return credential


async def _faststream(settings: BusSettings, count: int) -> tuple[float, float]:
    """A bare FastStream subscriber: QoS 1, json.loads, ack after.

    (FastStream decodes only ``application/json`` bodies; CloudEvents travel as
    ``application/cloudevents+json``, so the handler decodes them itself.)
    """
    seen = 0
    ops = _ops(settings)
    broker = MQTTBroker(
        settings.mqtt_url, version="5.0", log_level=logging.DEBUG,
        security=SASLPlaintext(username=ops.username, password=ops.password),
    )  # fmt: skip

    @broker.subscriber(TOPIC, qos=zmqtt.QoS.AT_LEAST_ONCE)
    async def handle(body: bytes) -> None:
        nonlocal seen
        json.loads(body)
        seen += 1

    async def done() -> bool:
        return seen >= count

    await broker.start()
    try:
        return await _load(settings, count, done)
    finally:
        await broker.stop()


async def _zmqtt(settings: BusSettings, count: int) -> tuple[float, float]:
    """A bare zmqtt client: QoS 1, json.loads, ack after."""
    parts = urlsplit(settings.mqtt_url)
    seen = 0
    ops = _ops(settings)
    client = zmqtt.MQTTClient(
        parts.hostname or "localhost", parts.port or 1883, version="5.0",
        username=ops.username, password=ops.password,
    )  # fmt: skip
    await client.connect()
    subscription = client.subscribe(TOPIC, qos=zmqtt.QoS.AT_LEAST_ONCE, auto_ack=False)
    await subscription.start()

    async def consume() -> None:
        nonlocal seen
        async for message in subscription:
            json.loads(message.payload)
            await message.ack()
            seen += 1

    async def done() -> bool:
        return seen >= count

    task = asyncio.create_task(consume())
    try:
        return await _load(settings, count, done)
    finally:
        task.cancel()
        await subscription.stop()
        await client.disconnect()


async def _forget(settings: BusSettings, client_id: str) -> None:
    broker = make_broker(settings, client_id=client_id, reconnect=False)
    await broker.connect()
    await broker.stop()


# -- 1a. the transport: the bus consumer over TLS and over plain TCP ---------------------


async def transport_cost(
    plain: BusSettings, tls: BusSettings, count: int, *, rounds: int = 4, connects: int = 20
) -> dict[str, Any]:
    """The bus consumer of step 1 on the same broker's plain and TLS listeners, the
    publishers on the same listener as the consumer, ``rounds`` times in turn: events/s
    (median), the ratio of each TLS run to the plain run just before it (median: slow
    drift in a busy machine's load cancels out), this process's CPU time per event
    (publishers and consumer, so both ends' encryption, not the broker's), and the time
    to connect and log in (median of ``connects``)."""
    results: dict[str, Any] = {"events": count, "rounds": rounds}
    rates: dict[str, list[float]] = {"plain": [], "tls": []}
    cpu: dict[str, list[float]] = {"plain": [], "tls": []}
    for _ in range(rounds):
        for label, settings in (("plain", plain), ("tls", tls)):
            used = time.process_time()
            rate, _ = await _bus(settings, count)
            cpu[label].append((time.process_time() - used) / count)
            rates[label].append(rate)
    for label, settings in (("plain", plain), ("tls", tls)):
        results[f"{label}_events_per_s"] = round(statistics.median(rates[label]), 1)
        results[f"{label}_cpu_us_per_event"] = round(1e6 * statistics.median(cpu[label]), 1)
        results[f"{label}_connect_ms"] = await _connect_ms(settings, connects)
    paired = [t / p for p, t in zip(rates["plain"], rates["tls"], strict=True)]
    results["tls_vs_plain"] = round(statistics.median(paired), 3)
    results["tls_cpu_vs_plain"] = round(
        results["tls_cpu_us_per_event"] / results["plain_cpu_us_per_event"], 3
    )
    return results


async def _connect_ms(settings: BusSettings, times: int) -> float:
    """Median milliseconds from nothing to a broker that accepted the login (CONNACK)."""
    durations = []
    for _ in range(times):
        broker = make_broker(settings, reconnect=False)
        start = time.perf_counter()
        await broker.connect()
        durations.append(time.perf_counter() - start)
        await broker.stop()
    return round(1000 * statistics.median(durations), 2)


# -- 1b. publishing: the cost of journal-first ------------------------------------------


async def publishing(settings: BusSettings, count: int, *, concurrency: int = 50) -> dict[str, Any]:
    """Events/s one publisher sends at QoS 1, with the journal write before each send (the
    default) and without it: one at a time (each waits for its PUBACK), then from
    ``concurrency`` tasks sharing the publisher (their journal writes group-committed)."""
    results: dict[str, Any] = {"events": count, "concurrency": concurrency}
    for label, first in (("journal_first", True), ("plain", False)):
        with_journal = settings.model_copy(update={"journal_first": first})
        async with Publisher(settings=with_journal) as publisher:
            start = time.perf_counter()
            for n in range(count):
                await publisher.publish(uploaded(n))
            results[f"{label}_per_s"] = round(count / (time.perf_counter() - start), 1)
            # Below Mosquitto's Receive Maximum (100 here) of unacknowledged publishes.
            per_task = count // concurrency

            async def one(
                k: int, publisher: Publisher = publisher, per_task: int = per_task
            ) -> None:
                for n in range(per_task):
                    await publisher.publish(uploaded(k * per_task + n))

            start = time.perf_counter()
            await asyncio.gather(*(one(k) for k in range(concurrency)))
            elapsed = time.perf_counter() - start
            results[f"{label}_concurrent_per_s"] = round(per_task * concurrency / elapsed, 1)
    results["journal_first_vs_plain"] = round(
        results["journal_first_per_s"] / results["plain_per_s"], 3
    )
    results["concurrent_journal_first_vs_plain"] = round(
        results["journal_first_concurrent_per_s"] / results["plain_concurrent_per_s"], 3
    )
    return results


# -- 2. latency at a steady rate ------------------------------------------------------


async def steady_latency(settings: BusSettings, rate: int, seconds: int) -> dict[str, Any]:
    """Publish at ``rate`` events/s for ``seconds``; publish-to-handler latency."""
    latencies: list[float] = []
    service = create_counter(f"bench-lat-{_ids()}", settings, latencies)
    await service.start()
    total = rate * seconds
    interval = 1.0 / rate
    sent = 0
    # Mosquitto disconnects a client with more unacknowledged publishes than its
    # Receive Maximum (max_inflight_messages, 100 here): keep a window below it.
    window = asyncio.Semaphore(50)
    async with Publisher(settings=settings) as publisher:
        pending: set[asyncio.Task[Envelope]] = set()
        start = time.perf_counter()
        for n in range(total):
            target = start + n * interval
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await window.acquire()
            task = asyncio.create_task(_publish_one(publisher, n, window))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        await asyncio.gather(*pending)
        publish_seconds = time.perf_counter() - start
    deadline = time.monotonic() + 120
    while len(latencies) < total and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await service.stop()
    await _forget(settings, service.client_id)
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)

    return {
        "target_rate": rate,
        "seconds": seconds,
        "sent": sent,
        "handled": len(latencies),
        "achieved_publish_rate": round(sent / publish_seconds, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(1000 * ordered[-1], 2) if ordered else None,
        "mean_ms": round(1000 * statistics.fmean(ordered), 2) if ordered else None,
    }


async def _publish_one(publisher: Publisher, n: int, window: asyncio.Semaphore) -> Envelope:
    try:
        return await publisher.publish(uploaded(n))
    finally:
        window.release()


# -- 3. replicas in separate processes ------------------------------------------------


async def replica_scaling(
    settings: BusSettings, count: int, replicas: tuple[int, ...]
) -> dict[str, Any]:
    """Events/s through 1, 2, 4 … replicas of one service, each its own process."""
    results: dict[str, Any] = {"events": count}
    for n in replicas:
        results[f"replicas_{n}_events_per_s"] = await _through_replicas(settings, count, n)
    base = results[f"replicas_{replicas[0]}_events_per_s"]
    for n in replicas[1:]:
        results[f"speedup_{n}"] = round(results[f"replicas_{n}_events_per_s"] / base, 2)
    return results


async def tracing_cost(settings: BusSettings, count: int) -> dict[str, Any]:
    """Events/s through one ``bus run`` replica with tracing off, then exporting every span
    (``BUS_TRACING=console``, serialized to JSON and written to /dev/null), side by side."""
    off = await _through_replicas(settings, count, 1, BUS_TRACING="off")
    on = await _through_replicas(settings, count, 1, BUS_TRACING="console")
    return {
        "events": count,
        "tracing_off_events_per_s": off,
        "tracing_console_events_per_s": on,
        "ratio_on_off": round(on / off, 2),
    }


async def _through_replicas(settings: BusSettings, count: int, n: int, **extra_env: str) -> float:
    """Events/s through ``n`` replicas of a counting service, each ``bus run`` in a process."""
    name = f"bench-rep-{_ids()}"
    env = dict(
        os.environ,
        BUS_MQTT_URL=settings.mqtt_url, BUS_REDIS_URL=settings.redis_url,
        BUS_MONGO_URL=settings.mongo_url, CHORUS_BENCH_SERVICE=name, CHORUS_BENCH_RUN=name,
        **extra_env,
    )  # fmt: skip
    redis = Redis.from_url(settings.redis_url)
    folder = _folder(f"/tmp/chorus-bench-{name}")
    processes = [await _replica(env, folder, i) for i in range(n)]
    for i in range(n):
        await _wait(lambda r=folder / f"{i}.ready": _exists(r), within=60)  # type: ignore[misc]
    key = COUNTER.format(run=name)
    start = time.perf_counter()
    await _publish_many(settings, count)
    await _wait(lambda k=key: _counter_at_least(redis, k, count), within=600)  # type: ignore[misc]
    elapsed = time.perf_counter() - start
    for process in processes:
        process.send_signal(2)
    for process in processes:
        await process.wait()
    for i in range(n):
        await _forget(settings, settings.client_id(name, str(i)))
    await redis.aclose()
    return round(count / elapsed, 1)


async def _replica(env: dict[str, str], folder: Path, i: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bus", "run", "bench.consumer:service",
        "--instance", str(i), "--ready-file", str(folder / f"{i}.ready"), "--log-level", "WARNING",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


def _folder(path: str) -> Path:
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def _exists(path: Path) -> bool:
    return _is_file(path)


def _is_file(path: Path) -> bool:
    return path.exists()


# -- 4. arq jobs ----------------------------------------------------------------------


async def jobs(settings: BusSettings, count: int) -> dict[str, Any]:
    """Enqueue rate with dedup, rejected duplicates, jobs/s through one worker."""
    service = Service(f"bench-jobs-{_ids()}", settings=settings)

    @service.job(timeout=60)
    async def noop(job: JobContext, n: int) -> int:
        return n

    await service.start(consume=False)
    start = time.perf_counter()
    accepted = sum([await service.enqueue(noop, key=str(n), n=n) for n in range(count)])
    enqueue_seconds = time.perf_counter() - start
    rejected = sum([not await service.enqueue(noop, key=str(n), n=n) for n in range(count)])
    worker = service.replica.build_worker(burst=True, max_jobs=20)
    start = time.perf_counter()
    await worker.async_run()
    work_seconds = time.perf_counter() - start
    await service.stop()
    return {
        "jobs": count,
        "enqueue_per_s": round(accepted / enqueue_seconds, 1),
        "accepted": accepted,
        "duplicates_rejected": rejected,
        "worker_jobs_per_s": round(worker.jobs_complete / work_seconds, 1),
        "completed": worker.jobs_complete,
    }
