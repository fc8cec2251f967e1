"""Service discovery on the real broker: presence on start, gone on a clean stop or a
death (the will), heartbeats, and the two commands that read it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bus import BusSettings, JobContext, Service
from bus._internal.broker import make_broker
from bus.constants import PRESENCE_TOPIC
from bus.discovery import Presence, PresenceFeed, Roster, presence_feed, read_presence
from bus.ops import serve_ops
from contracts import DocumentInspected, DocumentUploaded
from tests.faults.conftest import ServiceProcess, consumer_env
from tests.helpers import bus as run_bus

KEEPALIVE = 2
"""Seconds; Mosquitto gives up on a silent connection after 1.5 times this and sends its will."""

MARGIN = 1.5
"""Seconds allowed on top of what the broker is expected to take."""

KEEPALIVE_SWEEP = 1 + 6
"""Mosquitto 2.0 counts in whole seconds (a client expires once *more* than 1.5 x
keepalive passed) and looks for expired clients only when more than 5 s passed since
its last look (``keepalive__check`` in its ``src/keepalive.c``): a silent client is
found up to about 7 s after 1.5 x keepalive."""

DISCOVERED = "tests.integration.discovered_service:service"


def presence_of(service: str, instance: str = "1") -> str:
    return PRESENCE_TOPIC.format(service=service, instance=instance)


def indexer(name: str, settings: BusSettings) -> Service:
    service = Service(name, settings=settings, produces=[DocumentInspected])

    @service.on(DocumentUploaded)
    async def index(event: DocumentUploaded) -> None:
        """Nothing: only what the service announces matters here."""

    return service


async def wait_for(
    feed: PresenceFeed, check: Callable[[Roster], bool], *, within: float, what: str
) -> float:
    """Take presence messages until ``check`` holds; the seconds it took."""
    start = time.monotonic()
    while not check(feed.roster):
        left = start + within - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await feed.next(within=min(left, 0.5))
    return time.monotonic() - start


def beaten(presence: Presence) -> Callable[[Roster], bool]:
    """Whether a newer heartbeat than ``presence``'s came."""
    return lambda r: r.presences[presence.topic].heartbeat_at > presence.heartbeat_at


async def forget_session(settings: BusSettings, client_id: str) -> None:
    """A clean start with no expiry makes the broker forget a persistent session."""
    broker = make_broker(settings, client_id=client_id, reconnect=False)
    await broker.connect()
    await broker.stop()


async def test_presence_appears_on_start_and_goes_on_a_clean_stop(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    service = indexer(unique("indexer"), settings)
    services.append(service)
    topic = presence_of(service.name)
    async with presence_feed(settings) as feed:
        assert (await feed.settle()).sightings() == []
        await service.start()
        await wait_for(feed, lambda r: topic in r.presences, within=10, what="the presence")
        presence = feed.roster.presences[topic]
        assert (presence.service, presence.instance) == (service.name, "1")
        assert presence.client_id == service.client_id
        assert presence.consumes == ("documents.uploaded.v1",)
        assert presence.produces == ("documents.inspected.v1",)
        assert presence.pid == os.getpid()
        assert presence.health.problems == []
        assert presence.heartbeat_interval == settings.presence_interval
        assert presence.ops_url is None  # it serves no ops endpoint

        await service.stop()
        await wait_for(feed, lambda r: topic not in r.presences, within=10, what="its deletion")
    # Deleted on the broker, not only announced as gone: a new reader finds nothing.
    assert (await read_presence(settings)).sightings() == []


async def test_the_presence_says_where_the_replica_serves_its_metrics(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    service = indexer(unique("indexer"), settings)
    serve_ops(service, 0)  # a free port: only the presence tells which
    services.append(service)
    topic = presence_of(service.name)
    async with presence_feed(settings) as feed:
        await service.start()
        await wait_for(feed, lambda r: topic in r.presences, within=10, what="the presence")
        url = feed.roster.presences[topic].ops_url
        assert url is not None
        assert url.startswith("http://127.0.0.1:")
        assert not url.endswith(":0")
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            health = await http.get("/healthz")
            assert health.json() == {"status": "ok", "service": service.name}
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200
            assert "chorus_handler_seconds" in metrics.text
        await service.stop()
        await wait_for(feed, lambda r: topic not in r.presences, within=10, what="its deletion")
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(timeout=5) as http:
            await http.get(f"{url}/healthz")


async def test_a_worker_only_process_has_a_presence_of_its_own(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    service = indexer(unique("indexer"), settings)

    @service.job()
    async def reindex(job: JobContext) -> None:
        """Nothing."""

    services.append(service)
    topic = presence_of(service.name, "1-worker")
    async with presence_feed(settings) as feed:
        await service.start(consume=False, work=True)
        await wait_for(feed, lambda r: topic in r.presences, within=10, what="the presence")
        presence = feed.roster.presences[topic]
        assert presence.client_id == f"{service.client_id}-worker"
        assert (presence.consumes, presence.jobs, presence.worker) == ((), ("reindex",), True)
        await service.stop()
        await wait_for(feed, lambda r: topic not in r.presences, within=10, what="its deletion")


async def test_the_heartbeat_refreshes_the_presence(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    service = indexer(unique("indexer"), settings.model_copy(update={"presence_interval": 0.5}))
    services.append(service)
    topic = presence_of(service.name)
    async with presence_feed(settings) as feed:
        await service.start()
        await wait_for(feed, lambda r: topic in r.presences, within=10, what="the presence")
        first = feed.roster.presences[topic].heartbeat_at
        for _ in range(2):
            await wait_for(feed, beaten(feed.roster.presences[topic]), within=5, what="a beat")
        (sighting,) = feed.roster.sightings()
        assert not sighting.stale
        assert (sighting.presence.heartbeat_at - first).total_seconds() >= 0.9


@pytest.mark.parametrize(
    ("sig", "bound"),
    [
        # The kernel closes a killed process's socket: the broker sees it at once.
        (signal.SIGKILL, 1.5 * KEEPALIVE),
        # A frozen process keeps its socket open and silent, as after a network loss:
        # the broker gives up after 1.5 x keepalive, at its next keepalive sweep.
        (signal.SIGSTOP, 1.5 * KEEPALIVE + KEEPALIVE_SWEEP),
    ],
    ids=["SIGKILL", "SIGSTOP"],
)
async def test_a_dead_instance_disappears_by_its_will(
    settings: BusSettings,
    tmp_path: Path,
    unique: Callable[[str], str],
    sig: signal.Signals,
    bound: float,
) -> None:
    name = unique("discovered")
    env = consumer_env(settings, name, BUS_KEEPALIVE=str(KEEPALIVE))
    process = ServiceProcess(DISCOVERED, "k1", env, tmp_path)
    topic = presence_of(name, "k1")
    try:
        async with presence_feed(settings) as feed:
            await process.start()
            await wait_for(feed, lambda r: topic in r.presences, within=10, what="the presence")
            assert process.process is not None
            assert feed.roster.presences[topic].pid == process.process.pid
            assert feed.roster.presences[topic].version == "0.0.1-test"
            os.kill(process.process.pid, sig)
            took = await wait_for(
                feed, lambda r: topic not in r.presences, within=30, what="the will"
            )
    finally:
        if process.alive:
            await process.kill()  # SIGKILL also ends a stopped process
        await forget_session(settings, settings.client_id(name, "k1"))
    print(f"\n{sig.name}: presence gone {took:.2f}s later (keepalive {KEEPALIVE}s)")
    assert took < bound + MARGIN


async def test_bus_services_lists_a_running_instance(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    service = indexer(unique("indexer"), settings)
    services.append(service)
    await service.start()
    out = await bus("services", "--json", settings=settings)
    (listed,) = json.loads(out)
    assert (listed["service"], listed["instance"], listed["pid"]) == (
        service.name,
        "1",
        os.getpid(),
    )
    assert listed["consumes"] == ["documents.uploaded.v1"]
    assert listed["produces"] == ["documents.inspected.v1"]
    assert listed["stale"] is False
    assert listed["health"] == {"broker": True, "redis": True, "mongo": True}

    table = await bus("services", settings=settings)
    assert service.name in table
    assert "live" in table


async def test_bus_graph_live_draws_the_running_services(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    uploader = Service(unique("uploader"), settings=settings, produces=[DocumentUploaded])
    consumer = indexer(unique("indexer"), settings)
    services += [uploader, consumer]
    for service in services:
        await service.start()
    mermaid = await bus("graph", "--live", settings=settings)
    up, ix = (s.name.replace("-", "_") for s in (uploader, consumer))
    assert f"svc_{up} --> ev_documents_uploaded_v1" in mermaid
    assert f"ev_documents_uploaded_v1 --> svc_{ix}" in mermaid
    assert f"svc_{ix} --> ev_documents_inspected_v1" in mermaid

    only = await bus("graph", "--live", "--service", consumer.name, settings=settings)
    assert f"svc_{up}" not in only
    assert f"ev_documents_uploaded_v1 --> svc_{ix}" in only


async def bus(*args: str, settings: BusSettings) -> str:
    """Run ``bus ARGS`` against the test's broker and namespace; its stdout. In a thread,
    beside the services running in this event loop (the commands read the broker only)."""
    env = {"BUS_MQTT_URL": settings.mqtt_url, "BUS_NAMESPACE": settings.namespace}
    result = await asyncio.to_thread(run_bus, *args, env=env)
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout
