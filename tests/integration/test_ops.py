"""Every service can serve /healthz, /readyz and /metrics from its own event loop."""

import asyncio
from collections.abc import Callable

import httpx
import pytest
from arq.connections import ArqRedis
from prometheus_client.parser import text_string_to_metric_families

from bus import BusSettings, JobContext, Publisher, Service
from bus.ops import serve_ops
from contracts import DocumentUploaded
from tests.faults.conftest import free_port
from tests.helpers import eventually, uploaded


async def test_health_readiness_and_metrics_of_a_running_service(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    service = Service(unique("observed"), settings=settings)
    seen: list[str] = []

    @service.on(DocumentUploaded)
    async def note(event: DocumentUploaded) -> None:
        seen.append(event.filename)

    port = free_port()
    serve_ops(service, port)
    services.append(service)
    await service.start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        health = await http.get("/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"broker": True, "redis": True, "mongo": True}

        async with Publisher(settings=settings) as publisher:
            await publisher.publish(uploaded(1))
        await eventually(lambda: seen == ["file-1.txt"], what="the event")

        async def counted() -> bool:
            # Counted once the outcome is recorded, a round trip after the handler returns.
            metrics = (await http.get("/metrics/")).text
            return (
                _sample(metrics, "chorus_events_total", service=service.name, outcome="handled")
                == 1
            )

        await eventually(counted, within=10, what="the handled event in /metrics")

        # Redis gone: not ready, still alive.
        stores = service.replica.stores
        assert stores is not None
        working, stores.redis = stores.redis, ArqRedis.from_url("redis://127.0.0.1:9/0")
        try:
            unready = await http.get("/readyz")
            assert unready.status_code == 503
            assert unready.json()["checks"]["redis"] is False
            assert (await http.get("/healthz")).status_code == 200
        finally:
            await stores.redis.aclose()
            stores.redis = working

    await service.stop()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(timeout=5) as http:
            await http.get(f"http://127.0.0.1:{port}/healthz")


def _sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 if absent)."""
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def test_job_metrics_show_queued_running_and_done(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    service = Service(unique("worker"), settings=settings)
    release = asyncio.Event()

    @service.job()
    async def crunch(job: JobContext) -> str:
        await release.wait()
        return "done"

    port = free_port()
    serve_ops(service, port)
    services.append(service)
    await service.start(work=True)
    name = service.name

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

        async def scrape() -> str:
            return (await http.get("/metrics")).text

        assert await service.enqueue(crunch, key="a")
        assert not await service.enqueue(crunch, key="a")
        enqueued = await scrape()
        assert _sample(enqueued, "chorus_jobs_enqueued_total", service=name, outcome="queued") == 1
        assert (
            _sample(enqueued, "chorus_jobs_enqueued_total", service=name, outcome="duplicate") == 1
        )

        async def running() -> bool:
            metrics = await scrape()
            return (
                _sample(metrics, "chorus_jobs_running", service=name, job="crunch") == 1
                and _sample(metrics, "chorus_jobs_in_queue", service=name) == 1
            )

        await eventually(running, what="the job running and in the queue")
        release.set()

        async def done() -> bool:
            metrics = await scrape()
            return (
                _sample(metrics, "chorus_jobs_total", service=name, outcome="succeeded") == 1
                and _sample(metrics, "chorus_jobs_running", service=name, job="crunch") == 0
                and _sample(metrics, "chorus_jobs_in_queue", service=name) == 0
            )

        await eventually(done, what="the job done and out of the queue")
