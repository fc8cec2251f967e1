"""The FastAPI application of the external API."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.trace import Span

from bus.tracing import SERVICE_ATTRIBUTE
from services.gateway.api.routes import auth, documents, health
from services.gateway.api.throttle import KeyAttempts
from services.gateway.errors import install_error_handlers
from services.gateway.state import Gateway


def create_app(gateway: Gateway) -> FastAPI:
    """The API over ``gateway``'s dependencies; OpenAPI at ``/openapi.json``, docs at ``/docs``.

    Each request is a server span (OpenTelemetry), continuing a W3C ``traceparent``
    header if the client sends one: an upload's trace starts here.
    """
    app = FastAPI(
        title="Chorus document intake",
        version="1.0.0",
        description="Upload documents, then follow them while the services process them.",
    )
    app.state.gateway = gateway
    scope = gateway.service.settings.scoped(gateway.service.name)
    app.state.key_attempts = KeyAttempts(gateway.redis, scope, gateway.config)
    install_error_handlers(app)
    for module in (auth, documents, health):
        app.include_router(module.router)
    name = gateway.service.name

    def name_service(span: Span, scope: dict[str, Any]) -> None:
        if span.is_recording():
            span.set_attribute(SERVICE_ATTRIBUTE, name)

    FastAPIInstrumentor.instrument_app(
        app, server_request_hook=name_service, excluded_urls="healthz",
        exclude_spans=["receive", "send"],
    )  # fmt: skip
    return app
