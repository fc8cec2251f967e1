"""A service's operations endpoint: ``/healthz``, ``/readyz`` and ``/metrics``.

``bus run SERVICE --ops-port N`` (or ``BUS_OPS_PORT``) serves it on
``127.0.0.1:N`` (0: a free port) from the service's own event loop, so ``/healthz``
answering also proves the loop is not stuck. The replica's presence says where
(``Presence.ops_url``): that is how the console finds the metrics it draws.
"""

from __future__ import annotations

import contextlib
import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bus._internal.infra import UNREACHABLE
from bus.constants import JOB_QUEUE
from bus.discovery import Health
from bus.http import HttpServer
from bus.metrics import JOBS_IN_QUEUE
from bus.service import Service

log = logging.getLogger("bus.ops")


def create_ops_app(service: Service) -> Starlette:
    """``/healthz``: the process serves and the service is started (liveness).
    ``/readyz``: the broker connection is up and Redis and MongoDB answer (readiness).
    ``/metrics``: Prometheus metrics of this process."""

    async def healthz(_: Request) -> JSONResponse:
        started = service.started
        return JSONResponse(
            {"status": "ok" if started else "stopped", "service": service.name},
            200 if started else 503,
        )

    async def readyz(_: Request) -> JSONResponse:
        health = await service.replica.health() if service.started else Health(broker=False)
        checks = {"broker": health.broker, "redis": health.redis, "mongo": health.mongo}
        ready = all(value is True for value in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
        )

    async def metrics(_: Request) -> Response:
        stores = service.replica.stores if service.started else None
        if service.jobs and stores is not None:
            with contextlib.suppress(*UNREACHABLE):  # the gauge keeps its last value
                queue = JOB_QUEUE.format(service=service.settings.scoped(service.name))
                JOBS_IN_QUEUE.labels(service.name).set(await stores.redis.zcard(queue))
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/metrics/", metrics),
        ]
    )


def serve_ops(service: Service, port: int, host: str = "127.0.0.1") -> None:
    """Serve the operations endpoint while ``service`` runs (from its start to its stop),
    on ``host:port`` (port 0: a free one), and say where in its presence."""
    app = create_ops_app(service)
    running: list[HttpServer] = []

    @service.on_started
    async def start_ops() -> None:
        server = HttpServer(app, host, port)
        await server.start()
        running.append(server)
        service.replica.ops_url = server.url  # the presence, announced next, says where
        log.info("%s serves /healthz, /readyz and /metrics on %s", service.name, server.url)

    @service.on_stopping
    async def stop_ops() -> None:
        service.replica.ops_url = None
        while running:
            await running.pop().stop()
