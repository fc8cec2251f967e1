"""The measurements, each returning a flat dict of numbers."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import zmqtt
from faststream.mqtt import MQTTBroker
from redis.asyncio import Redis

from bench.consumer import COUNTER, create_counter
from bus import BusSettings, Envelope, Publisher, Service
from bus._internal.broker import detach, make_broker
from bus.jobs import JobContext
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


async def consumer_throughput(settings: BusSettings, count: int) -> dict[str, Any]:
    """Drain ``count`` queued QoS 1 events with each kind of consumer; events/s."""
    results: dict[str, Any] = {"events": count}
    for kind, run in (
        ("bus", _drain_bus),
        ("faststream", _drain_faststream),
        ("zmqtt", _drain_zmqtt),
    ):
        results[f"{kind}_events_per_s"] = round(await run(settings, count), 1)
    results["bus_vs_faststream"] = round(
        results["bus_events_per_s"] / results["faststream_events_per_s"], 3
    )
    results["bus_vs_zmqtt"] = round(results["bus_events_per_s"] / results["zmqtt_events_per_s"], 3)
    results["faststream_vs_zmqtt"] = round(
        results["faststream_events_per_s"] / results["zmqtt_events_per_s"], 3
    )
    return results


async def _drain_bus(settings: BusSettings, count: int) -> float:
    service = create_counter(f"bench-bus-{_ids()}", settings)
    redis = Redis.from_url(settings.redis_url)
    key = COUNTER.format(run=service.name)
    await service.start()
    await service.stop()  # the session stays and queues what is published now
    await _publish_many(settings, count)
    start = time.perf_counter()
    await service.start()
    await _wait(lambda: _counter_at_least(redis, key, count), within=600)
    elapsed = time.perf_counter() - start
    await service.stop()
    await _forget(settings, service.client_id)
    await redis.aclose()
    return count / elapsed


async def _counter_at_least(redis: Redis, key: str, count: int) -> bool:
    return int(await redis.get(key) or 0) >= count


async def _drain_faststream(settings: BusSettings, count: int) -> float:
    """A bare FastStream subscriber: QoS 1, persistent session, JSON decode, ack after."""
    client_id = f"bench-fs-{_ids()}"
    seen = 0
    done = asyncio.Event()

    def build() -> MQTTBroker:
        broker = MQTTBroker(
            settings.mqtt_url, client_id=client_id, clean_session=False,
            session_expiry_interval=600, version="5.0",
        )  # fmt: skip

        @broker.subscriber(TOPIC, qos=zmqtt.QoS.AT_LEAST_ONCE)
        async def handle(body: dict[str, Any]) -> None:
            nonlocal seen
            seen += 1
            if seen >= count:
                done.set()

        return broker

    broker = build()
    await broker.start()
    await detach(list(broker.subscribers))  # type: ignore[arg-type]
    await broker.stop()
    await _publish_many(settings, count)
    broker = build()
    start = time.perf_counter()
    await broker.start()
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - start
    await detach(list(broker.subscribers))  # type: ignore[arg-type]
    await broker.stop()
    await _forget(settings, client_id)
    return count / elapsed


async def _drain_zmqtt(settings: BusSettings, count: int) -> float:
    """A bare zmqtt client: QoS 1, persistent session, json.loads, ack after."""
    broker = make_broker(settings)  # only to parse the URL the same way
    host, port = broker._connection_kwargs["host"], broker._connection_kwargs["port"]
    client_id = f"bench-zmqtt-{_ids()}"

    def client() -> zmqtt.MQTTClient:
        return zmqtt.MQTTClient(
            host, port, client_id=client_id, clean_session=False,
            session_expiry_interval=600, version="5.0",
        )  # fmt: skip

    first = client()
    await first.connect()
    subscription = first.subscribe(TOPIC, qos=zmqtt.QoS.AT_LEAST_ONCE, auto_ack=False)
    await subscription.start()
    await subscription.detach()
    await first.disconnect()
    await _publish_many(settings, count)
    second = client()
    start = time.perf_counter()
    await second.connect()
    seen = 0
    async with second.subscribe(TOPIC, qos=zmqtt.QoS.AT_LEAST_ONCE, auto_ack=False) as sub:
        async for message in sub:
            json.loads(message.payload)
            await message.ack()
            seen += 1
            if seen >= count:
                break
    elapsed = time.perf_counter() - start
    await second.disconnect()
    await _forget(settings, client_id)
    return count / elapsed


async def _forget(settings: BusSettings, client_id: str) -> None:
    broker = make_broker(settings, client_id=client_id, reconnect=False)
    await broker.connect()
    await broker.stop()


# -- 2. latency at a steady rate ------------------------------------------------------


async def steady_latency(settings: BusSettings, rate: int, seconds: int) -> dict[str, Any]:
    """Publish at ``rate`` events/s for ``seconds``; publish-to-handler latency."""
    latencies: list[float] = []
    service = create_counter(f"bench-lat-{_ids()}", settings, latencies)
    await service.start()
    total = rate * seconds
    interval = 1.0 / rate
    sent = 0
    async with Publisher(settings=settings) as publisher:
        pending: set[asyncio.Task[Envelope]] = set()
        start = time.perf_counter()
        for n in range(total):
            target = start + n * interval
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(publisher.publish(uploaded(n)))
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


# -- 3. replicas in separate processes ------------------------------------------------


async def replica_scaling(
    settings: BusSettings, count: int, replicas: tuple[int, ...]
) -> dict[str, Any]:
    """Events/s through 1, 2, 4 … replicas of one service, each its own process."""
    results: dict[str, Any] = {"events": count}
    redis = Redis.from_url(settings.redis_url)
    for n in replicas:
        name = f"bench-rep-{_ids()}"
        env = dict(
            os.environ,
            BUS_MQTT_URL=settings.mqtt_url, BUS_REDIS_URL=settings.redis_url,
            BUS_MONGO_URL=settings.mongo_url, CHORUS_BENCH_SERVICE=name, CHORUS_BENCH_RUN=name,
        )  # fmt: skip
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
            await _forget(settings, f"{name}-{i}")
        results[f"replicas_{n}_events_per_s"] = round(count / elapsed, 1)
    await redis.aclose()
    base = results[f"replicas_{replicas[0]}_events_per_s"]
    for n in replicas[1:]:
        results[f"speedup_{n}"] = round(results[f"replicas_{n}_events_per_s"] / base, 2)
    return results


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
    worker = service.build_worker(burst=True, max_jobs=20)
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
