"""Every error the API returns is JSON: ``{"error": code, "detail": message}``.

Errors the application never sees (a request uvicorn cannot parse: a header past its
limit, say) get the same shape from :mod:`services.gateway.api.protocol`.

``detail`` is in the language the request's ``Accept-Language`` asks for, of those the
gateway speaks (:mod:`services.i18n`; its catalogs are in ``locale/``), and the answer
says which in ``Content-Language`` (with ``Vary: Accept-Language``). ``error`` is the
same in every language: clients branch on it. A text with no translation (a library's
own words, say) stays English, and ``Content-Language`` says ``en``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from services.i18n import DEFAULT_LOCALE, Catalogs, Message, _, negotiate

log = logging.getLogger("services.gateway")

catalogs = Catalogs(Path(__file__).parent / "locale")
"""The gateway's translations (``locale/<lang>/LC_MESSAGES/messages.po``)."""

FRAMEWORK_DETAILS = (
    _("Not Found"),
    _("Method Not Allowed"),
    _("There was an error parsing the body"),
)
"""Starlette's and FastAPI's own details, marked here so that the catalogs have them."""

PLAIN_DETAILS = (
    _("send 'Authorization: Bearer <token>'"),
    _("the token is unknown or has expired"),
    _("the API key is unknown or revoked"),
)
"""Details that ``api/deps.py`` and ``api/routes/auth.py`` raise as plain strings, marked
here so that the catalogs have them (a plain string is looked up as it is; one that
changes there is answered in English until it is marked again)."""


class Error(BaseModel):
    """Every error the API answers with: a stable code to branch on, and a message for people."""

    error: str = Field(description="A stable code, e.g. 'invalid_token' or 'too_large'")
    detail: str = Field(
        description="What went wrong and what to do, for people: in the language negotiated"
        " from Accept-Language (English or German), named by the Content-Language header"
    )


def error_body(code: str, detail: str) -> bytes:
    """The JSON body of an error, for the places that write bytes themselves."""
    return json.dumps(Error(error=code, detail=detail).model_dump()).encode()


class ApiError(Exception):
    """An error with an HTTP status, a stable code and a message for people.

    ``detail`` is a :class:`~services.i18n.Message` (``_("…", name=value)``), answered in
    the client's language; a plain string is looked up in the catalogs as it is.
    ``self.detail`` is the English.
    """

    def __init__(
        self, status: int, code: str, detail: str | Message, headers: dict[str, str] | None = None
    ) -> None:
        self.message = detail if isinstance(detail, Message) else Message(detail)
        self.status, self.code, self.detail, self.headers = status, code, str(self.message), headers
        super().__init__(self.detail)


def localized(request: Request, message: Message) -> tuple[str, str]:
    """``message`` in the language ``request`` asks for, and that language: English when
    the catalog has no translation of it."""
    locale = negotiate(request.headers.get("accept-language"))
    translations = catalogs(locale)
    if locale != DEFAULT_LOCALE and translations.gettext(message.text) == message.text:
        locale = DEFAULT_LOCALE
    return message.translate(translations), locale


def error_response(
    request: Request,
    status: int,
    code: str,
    message: Message,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The JSON error, its ``detail`` in the client's language."""
    detail, locale = localized(request, message)
    language = {"Content-Language": locale, "Vary": "Accept-Language"}
    return JSONResponse(
        {"error": code, "detail": detail}, status, headers={**(headers or {}), **language}
    )


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
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "invalid_body", 404: "not_found", 405: "method_not_allowed"}
        headers = exc.headers
        allowed = _allowed_methods(request) if exc.status_code == 405 else None
        if allowed:
            headers = {**(headers or {}), "Allow": allowed}
        code = codes.get(exc.status_code, "http_error")
        return error_response(request, exc.status_code, code, Message(exc.detail), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # pydantic's messages are English only: Content-Language says so.
        problems = [
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        ]
        return error_response(request, 422, "invalid_request", Message("; ".join(problems)))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's outermost middleware calls this, answers, then raises ``exc`` again
        # for the server to log: a bug still shows, and the client still gets JSON.
        log.error("%s %s failed: %r", request.method, request.url.path, exc)
        detail = _("the gateway failed to handle the request")
        return error_response(request, 500, "internal_error", detail)
