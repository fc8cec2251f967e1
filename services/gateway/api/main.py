"""The FastAPI application of the external API."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.routing import APIRoute
from opentelemetry import context, trace
from starlette.types import ASGIApp, Receive, Scope, Send

from bus.tracing import SERVICE_ATTRIBUTE, extract, recording
from services.gateway.api.routes import auth, documents, exports, health
from services.gateway.api.throttle import KeyAttempts
from services.gateway.errors import Error, install_error_handlers
from services.gateway.state import Gateway
from services.gateway.views import DocumentUpload

GZIP_MINIMUM_SIZE = 1024
"""Bytes a response must have before it is compressed (for clients that accept gzip).
Starlette's middleware never compresses ``text/event-stream``: SSE stays unbuffered."""


def _operation_id(route: APIRoute) -> str:
    # The handler's name ("upload", "get_document"): what a generated client calls it.
    return route.name


def _health_check(scope: MutableMapping[str, Any]) -> bool:
    return bool(scope.get("path") == "/healthz")


def build_app() -> FastAPI:
    """The routes, their errors and their OpenAPI document, without a gateway to serve
    them: :func:`create_app` serves them; ``python -m services.gateway.openapi`` writes the
    document."""
    app = FastAPI(
        title="Chorus document intake",
        version="1.0.0",
        description="Upload documents, then follow them while the services process them.",
        generate_unique_id_function=_operation_id,
        # FastAPI's own OpenTelemetry: a server span per request while the process records
        # spans; nothing at all while it does not (see :class:`ServiceSpans`).
        telemetry={
            "exclude": _health_check, "metrics": False, "logs": False,
            "operation_spans": False,
        },
    )  # fmt: skip
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_SIZE)
    install_error_handlers(app)
    for module in (auth, documents, exports, health):
        app.include_router(module.router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = FastAPI.openapi(app)
            # Schemas the routes name themselves: the one error schema (see
            # services.gateway.api.responses) and the upload's form, which no handler parses.
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for model in (Error, DocumentUpload):
                schemas[model.__name__] = model.model_json_schema()
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
    return app


def create_app(gateway: Gateway) -> FastAPI:
    """The API over ``gateway``'s dependencies; OpenAPI at ``/openapi.json``, docs at ``/docs``.

    Each request is a server span (FastAPI's OpenTelemetry), continuing a W3C
    ``traceparent`` header if the client sends one: an upload's trace starts here.
    """
    app = build_app()
    app.state.gateway = gateway
    scope = gateway.service.settings.scoped(gateway.service.name)
    app.state.key_attempts = KeyAttempts(gateway.redis, scope, gateway.config)
    app.add_middleware(ServiceSpans, service=gateway.service.name)
    return app


class ServiceSpans:
    """ASGI middleware: the request's server span names the service, as every span of the
    bus does. While the process records no spans (``BUS_TRACING=off``), FastAPI makes none
    and reads no header: the context the client sent is attached here instead, so the
    events the request publishes carry it on. (OpenTelemetry's contrib middleware did both
    at a cost of 0.4 ms of the gateway's 1.9 ms of CPU per ``GET /documents/{id}``.)"""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif recording():
            trace.get_current_span().set_attribute(SERVICE_ATTRIBUTE, self.service)
            await self.app(scope, receive, send)
        elif not any(name == b"traceparent" for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
        else:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            token = context.attach(extract(headers))
            try:
                await self.app(scope, receive, send)
            finally:
                context.detach(token)
