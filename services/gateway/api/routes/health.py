"""GET /healthz."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.gateway.api.deps import GatewayDep
from services.gateway.views import Health

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    responses={503: {"model": Health, "description": "The bus or Redis does not answer"}},
)
async def healthz(gateway: GatewayDep, response: Response) -> Health:
    """200 while the gateway can accept uploads (bus and Redis reachable), else 503."""
    checks = {"bus": gateway.service.connected}
    try:
        checks["redis"] = bool(await gateway.redis.ping())
    except Exception:  # any failure means "not healthy"; the body says which part
        checks["redis"] = False
    healthy = all(checks.values())
    if not healthy:
        response.status_code = 503
    return Health(status="ok" if healthy else "degraded", checks=checks)
