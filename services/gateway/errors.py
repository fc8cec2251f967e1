"""Every error the API returns is JSON: ``{"error": code, "detail": message}``.

Errors the application never sees (a request uvicorn cannot parse: a header past its
limit, say) get the same shape from :mod:`services.gateway.api.protocol`.
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

log = logging.getLogger("services.gateway")


class Error(BaseModel):
    """Every error the API answers with: a stable code to branch on, and a message for people."""

    error: str = Field(description="A stable code, e.g. 'invalid_token' or 'too_large'")
    detail: str = Field(description="What went wrong and what to do, for people")


def error_body(code: str, detail: str) -> bytes:
    """The JSON body of an error, for the places that write bytes themselves."""
    return json.dumps(Error(error=code, detail=detail).model_dump()).encode()


class ApiError(Exception):
    """An error with an HTTP status, a stable code and a message for people."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


def _allowed_methods(request: Request) -> str | None:
    # Starlette's 405 names the methods of the first route with the path, and a path can
    # have several (GET and POST /documents): name those the OpenAPI document lists.
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        if compile_path(template)[0].match(request.url.path):
            methods |= {method.upper() for method in operations}
    if "GET" in methods:
        methods.add("HEAD")  # Starlette answers HEAD wherever it answers GET
    return ", ".join(sorted(methods)) or None


def install_error_handlers(app: FastAPI) -> None:
    """Shape FastAPI's own errors (404, 405, validation) the same way as ours."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            {"error": exc.code, "detail": exc.detail}, exc.status, headers=exc.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "invalid_body", 404: "not_found", 405: "method_not_allowed"}
        headers = exc.headers
        allowed = _allowed_methods(request) if exc.status_code == 405 else None
        if allowed:
            headers = {**(headers or {}), "Allow": allowed}
        return JSONResponse(
            {"error": codes.get(exc.status_code, "http_error"), "detail": exc.detail},
            exc.status_code,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        ]
        return JSONResponse({"error": "invalid_request", "detail": "; ".join(problems)}, 422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's outermost middleware calls this, answers, then raises ``exc`` again
        # for the server to log: a bug still shows, and the client still gets JSON.
        log.error("%s %s failed: %r", request.method, request.url.path, exc)
        detail = "the gateway failed to handle the request"
        return JSONResponse({"error": "internal_error", "detail": detail}, 500)
