"""GET /healthz."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.gateway.api.deps import GatewayDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(gateway: GatewayDep) -> JSONResponse:
    """200 while the gateway can accept uploads (bus and Redis reachable), else 503."""
    checks = {"bus": gateway.service.connected}
    try:
        checks["redis"] = bool(await gateway.redis.ping())
    except Exception:  # any failure means "not healthy"; the body says which part
        checks["redis"] = False
    healthy = all(checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", "checks": checks}, 200 if healthy else 503
    )
