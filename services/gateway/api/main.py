"""The FastAPI application of the external API."""

from __future__ import annotations

from fastapi import FastAPI

from services.gateway.api.routes import auth, documents, health
from services.gateway.errors import install_error_handlers
from services.gateway.state import Gateway


def create_app(gateway: Gateway) -> FastAPI:
    """The API over ``gateway``'s dependencies; OpenAPI at ``/openapi.json``, docs at ``/docs``."""
    app = FastAPI(
        title="Chorus document intake",
        version="1.0.0",
        description="Upload documents, then follow them while the services process them.",
    )
    app.state.gateway = gateway
    install_error_handlers(app)
    for module in (auth, documents, health):
        app.include_router(module.router)
    return app
