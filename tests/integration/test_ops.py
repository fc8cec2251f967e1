"""Every service can serve /healthz, /readyz and /metrics from its own event loop."""

from collections.abc import Callable

import httpx
import pytest
from redis.asyncio import Redis

from bus import BusSettings, Publisher, Service
from bus.ops import serve_ops
from contracts import DocumentUploaded
from tests.faults.conftest import free_port
from tests.helpers import eventually, uploaded

pytestmark = pytest.mark.connected


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
        metrics = (await http.get("/metrics/")).text
        assert f'chorus_events_total{{outcome="handled",service="{service.name}"' in metrics

        # Redis gone: not ready, still alive.
        working, service.redis = service.redis, Redis.from_url("redis://127.0.0.1:9/0")
        try:
            unready = await http.get("/readyz")
            assert unready.status_code == 503
            assert unready.json()["checks"]["redis"] is False
            assert (await http.get("/healthz")).status_code == 200
        finally:
            await service.redis.aclose()
            service.redis = working

    await service.stop()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(timeout=5) as http:
            await http.get(f"http://127.0.0.1:{port}/healthz")
