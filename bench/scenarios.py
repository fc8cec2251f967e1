"""The measurements, each returning a flat dict of numbers."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.consumer import COUNTER, create_counter
from bench.consumers import KINDS, ConsumerProcess, child_env, wait_for
from bus import BusSettings, Envelope, Publisher, Service
from bus._internal.broker import make_broker
from bus.jobs import JobContext
from tests.helpers import uploaded

TOPIC = "documents/uploaded/v1"


def _ids() -> str:
    return uuid.uuid4().hex[:8]


async def _publish_many(settings: BusSettings, count: int, *, tasks: int = 8) -> float:
    """Publish ``count`` events from ``tasks`` concurrent publishers; returns seconds."""
    shares = [count // tasks + (k < count % tasks) for k in range(tasks)]
    start = time.perf_counter()

    async def one(k: int) -> None:
        async with Publisher(settings=settings) as publisher:
            for n in range(shares[k]):
                await publisher.publish(uploaded(k * count + n))

    await asyncio.gather(*(one(k) for k in range(tasks)))
    return time.perf_counter() - start


async def _wait(check: Callable[[], Awaitable[bool]], within: float) -> None:
    await wait_for(check, within)


# -- 1. one consumer: bus vs bare FastStream vs bare zmqtt ------------------------------
#
# Each consumer runs in a process of its own (bench/consumers.py), so that its CPU time
# is its own. "backlog": the consumer's session is subscribed, then offline while
# ``count`` events are published, then it comes back and drains them: the publishers are
# not the limit. "live": the consumer is subscribed while eight concurrent publishers
# send ``count`` events as fast as they can. Rates run from the first event handled to
# the last (backlog), or from the first publish to the last event handled (live); CPU
# seconds per 1,000 events are the consumer process's, from its first event to its last.


def _client_id(settings: BusSettings, kind: str, name: str, instance: str = "0") -> str:
    return settings.client_id(name, instance) if kind == "bus" else name


async def consumer_throughput(settings: BusSettings, count: int) -> dict[str, Any]:
    """Events/s and CPU per 1,000 events of each kind of consumer, draining a backlog and
    at a live rate, same topic, same load."""
    results: dict[str, Any] = {"events": count, "backlog": {}, "live": {}}
    for kind in KINDS:
        results["backlog"][kind] = await _drain_backlog(settings, kind, count)
        results["live"][kind] = await _live(settings, kind, count)
    rates = {kind: results["backlog"][kind]["events_per_s"] for kind in KINDS}
    results["bus_vs_faststream"] = round(rates["bus"] / rates["faststream"], 3)
    results["bus_vs_zmqtt"] = round(rates["bus"] / rates["zmqtt"], 3)
    results["faststream_vs_zmqtt"] = round(rates["faststream"] / rates["zmqtt"], 3)
    return results


def _per_1000(cpu_s: float, events: int) -> float:
    return round(1000 * cpu_s / max(events, 1), 4)


async def _drain_backlog(settings: BusSettings, kind: str, count: int) -> dict[str, Any]:
    name = f"bench-{kind}-{_ids()}"
    child = await ConsumerProcess.spawn(kind, name, child_env(settings))
    try:
        await child.command("prepare")
        await _publish_many(settings, count)
        await child.command("go")
        await wait_for(lambda: child.count >= count, within=600)
        tally = await child.stop()
    finally:
        child.kill()
        await forget(settings, _client_id(settings, kind, name))
    handled = tally["count"]
    seconds = tally["last"] - tally["first"]
    return {
        "handled": handled,
        "events_per_s": round((handled - 1) / seconds, 1) if seconds > 0 else None,
        "cpu_s_per_1000": _per_1000(tally["cpu_s"], handled - 1),
    }


async def _live(settings: BusSettings, kind: str, count: int) -> dict[str, Any]:
    name = f"bench-{kind}-{_ids()}"
    child = await ConsumerProcess.spawn(kind, name, child_env(settings))
    try:
        await child.command("go")
        start = time.monotonic()
        published = await _publish_many(settings, count)
        await wait_for(lambda: child.count >= count, within=600)
        tally = await child.stop()
    finally:
        child.kill()
        await forget(settings, _client_id(settings, kind, name))
    return {
        "handled": tally["count"],
        "events_per_s": round(tally["count"] / (tally["last"] - start), 1),
        "publish_per_s": round(count / published, 1),
        "cpu_s_per_1000": _per_1000(tally["cpu_s"], tally["count"] - 1),
    }


async def _counter_at_least(redis: Redis, key: str, count: int) -> bool:
    return int(await redis.get(key) or 0) >= count


async def _bus(settings: BusSettings, count: int) -> tuple[float, float]:
    """The bus consumer in this process (for the transport step): events/s from the
    first publish to the last event handled, and the publish rate."""
    service = create_counter(f"bench-bus-{_ids()}", settings)
    redis = Redis.from_url(settings.redis_url)
    key = COUNTER.format(run=service.name)
    await service.start()
    try:
        start = time.perf_counter()
        published = await _publish_many(settings, count)
        await wait_for(lambda: _counter_at_least(redis, key, count), within=600)
        return count / (time.perf_counter() - start), count / published
    finally:
        await service.stop()
        await forget(settings, service.client_id)
        await redis.aclose()


async def forget(settings: BusSettings, client_id: str) -> None:
    """End the persistent session ``client_id`` (a clean start discards it)."""
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


async def steady_latency(
    settings: BusSettings, rates: tuple[int, ...], seconds: int
) -> dict[str, Any]:
    """Each of ``rates`` events/s offered for ``seconds`` to a bus consumer in a process
    of its own: publish-to-handler latency (the envelope's time to the handler, one clock)
    and the events lost (sent, never handled once the count stopped growing for 5 s, or
    60 s after the last send: then ``settled`` is False and late events count as lost)."""
    results: dict[str, Any] = {}
    for rate in rates:
        results[f"rate_{rate}"] = await _offered(settings, rate, seconds)
    return results


async def _offered(settings: BusSettings, rate: int, seconds: int) -> dict[str, Any]:
    name = f"bench-lat-{_ids()}"
    child = await ConsumerProcess.spawn("bus", name, child_env(settings), latency=True)
    try:
        await child.command("go")
        sent, publish_seconds = await _paced(settings, rate, rate * seconds)
        settled = await _settled(lambda: child.count, sent, within=60)
        tally = await child.stop()
    finally:
        child.kill()
        await forget(settings, settings.client_id(name, "0"))
    return {
        "offered_per_s": rate,
        "seconds": seconds,
        "sent": sent,
        "handled": tally["count"],
        "lost": sent - tally["count"],
        # False: events were still arriving when the bench stopped waiting (60 s after the
        # last send), so "lost" counts late ones too.
        "settled": settled,
        "publish_per_s": round(sent / publish_seconds, 1),
        **{key: value for key, value in tally["latency"].items() if key != "samples"},
        "consumer_gc_full": tally.get("gc_full"),
    }


async def _paced(settings: BusSettings, rate: int, total: int) -> tuple[int, float]:
    """Publish ``total`` events at ``rate`` per second (each send at its time, or at once
    when late); how many were sent, and in how many seconds."""
    interval = 1.0 / rate
    # Mosquitto disconnects a client with more unacknowledged publishes than its
    # Receive Maximum (max_inflight_messages, 100 here): keep a window below it.
    window = asyncio.Semaphore(50)
    sent = 0
    async with Publisher(settings=settings) as publisher:
        pending: set[asyncio.Task[Envelope]] = set()
        start = time.perf_counter()
        for n in range(total):
            delay = start + n * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await window.acquire()
            task = asyncio.create_task(_publish_one(publisher, n, window))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        await asyncio.gather(*pending)
        return sent, time.perf_counter() - start


async def _settled(count: Callable[[], int], target: int, within: float) -> bool:
    """Wait until ``count()`` reaches ``target``, or stops growing for 5 s (True), or
    ``within`` seconds pass while it still grows (False)."""
    deadline = time.monotonic() + within
    last, since = -1, time.monotonic()
    while count() < target:
        if time.monotonic() > deadline:
            return False
        if count() != last:
            last, since = count(), time.monotonic()
        elif time.monotonic() - since > 5:
            return True
        await asyncio.sleep(0.05)
    return True


async def _publish_one(publisher: Publisher, n: int, window: asyncio.Semaphore) -> Envelope:
    try:
        return await publisher.publish(uploaded(n))
    finally:
        window.release()


# -- 3. replicas on a backlog, each a process of its own -------------------------------


async def replica_scaling(
    settings: BusSettings, count: int, replicas: tuple[int, ...]
) -> dict[str, Any]:
    """A backlog of ``count`` events drained by 1, 2, 4 … replicas of one bus service
    (a shared subscription), each its own process: events/s from the first event handled
    to the last, and CPU seconds per 1,000 events (all replicas together)."""
    results: dict[str, Any] = {"events": count}
    for n in replicas:
        results[f"replicas_{n}"] = await _replicas_drain(settings, count, n)
    base = results[f"replicas_{replicas[0]}"]
    for n in replicas[1:]:
        run = results[f"replicas_{n}"]
        results[f"speedup_{n}"] = round(run["events_per_s"] / base["events_per_s"], 2)
        results[f"cpu_{n}_vs_{replicas[0]}"] = round(
            run["cpu_s_per_1000"] / base["cpu_s_per_1000"], 2
        )
    return results


async def _replicas_drain(settings: BusSettings, count: int, n: int) -> dict[str, Any]:
    name = f"bench-rep-{_ids()}"
    children: list[ConsumerProcess] = []
    try:
        children = list(
            await asyncio.gather(
                *(
                    ConsumerProcess.spawn("bus", name, child_env(settings, BUS_INSTANCE=str(i)))
                    for i in range(n)
                )
            )
        )
        # Every replica's session joins the shared subscription before the backlog.
        await asyncio.gather(*(child.command("prepare") for child in children))
        await _publish_many(settings, count)
        await asyncio.gather(*(child.command("go") for child in children))
        await wait_for(lambda: sum(child.count for child in children) >= count, within=600)
        tallies = await asyncio.gather(*(child.stop() for child in children))
    finally:
        for child in children:
            child.kill()
        for i in range(n):
            await forget(settings, settings.client_id(name, str(i)))
    handled = sum(t["count"] for t in tallies)
    busy = [t for t in tallies if t["count"]]
    seconds = max(t["last"] for t in busy) - min(t["first"] for t in busy)
    return {
        "handled": handled,
        "events_per_s": round(handled / seconds, 1),
        "cpu_s_per_1000": _per_1000(sum(t["cpu_s"] for t in tallies), handled),
        "per_replica": [t["count"] for t in tallies],
    }


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
        await forget(settings, settings.client_id(name, str(i)))
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
