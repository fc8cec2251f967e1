"""A service's operations endpoint: ``/healthz``, ``/readyz`` and ``/metrics``.

``bus run SERVICE --ops-port N`` (or ``BUS_OPS_PORT``) serves it on
``127.0.0.1:N`` from the service's own event loop, so ``/healthz`` answering
also proves the loop is not stuck.
"""

from __future__ import annotations

from prometheus_client import make_asgi_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from bus.discovery.health import check_health
from bus.http import HttpServer
from bus.service import Service


def create_ops_app(service: Service) -> Starlette:
    """``/healthz``: the process serves and the service is started (liveness).
    ``/readyz``: the broker connection is up and Redis and MongoDB answer (readiness).
    ``/metrics``: Prometheus metrics of this process."""

    async def healthz(_: Request) -> JSONResponse:
        started = service.pipeline is not None
        return JSONResponse(
            {"status": "ok" if started else "stopped", "service": service.name},
            200 if started else 503,
        )

    async def readyz(_: Request) -> JSONResponse:
        health = await check_health(service)
        checks = {"broker": health.broker, "redis": health.redis, "mongo": health.mongo}
        ready = all(value is True for value in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
        )

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Mount("/metrics", app=make_asgi_app()),
        ]
    )


def serve_ops(service: Service, port: int, host: str = "127.0.0.1") -> None:
    """Serve the operations endpoint while ``service`` runs (from its start to its stop)."""
    app = create_ops_app(service)
    running: list[HttpServer] = []

    @service.on_started
    async def start_ops() -> None:
        server = HttpServer(app, host, port)
        await server.start()
        running.append(server)

    @service.on_stopping
    async def stop_ops() -> None:
        while running:
            await running.pop().stop()
