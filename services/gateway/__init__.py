"""The gateway: the external API (FastAPI) in front of the choreographed services."""

from services.gateway.api import create_app
from services.gateway.config import GatewaySettings
from services.gateway.service import GatewayService, create_service, service

__all__ = ["GatewayService", "GatewaySettings", "create_app", "create_service", "service"]
