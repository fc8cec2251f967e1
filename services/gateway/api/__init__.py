"""The HTTP API: routes, their dependencies, the application factory."""

from services.gateway.api.main import create_app

__all__ = ["create_app"]
