"""The console's web application: the pages, the live followers, the login in front."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pymongo.errors import ConnectionFailure
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bus.deadletters import StoredDeadLetter
from bus.journal import JournalEntry
from bus.mongo import connect_mongo, release_mongo
from bus.service import Service
from bus.settings import BusSettings
from bus.tools.console.auth import (
    SESSION_LIFETIME,
    NotLoggedInError,
    SessionDep,
    Sessions,
    Users,
)
from bus.tools.console.hosts import host_allowed
from bus.tools.console.live import Presences, Traffic
from bus.tools.console.metrics import Measurements
from bus.tools.console.pages import (
    config,
    deadletters,
    events,
    flow,
    login,
    numbers,
    services,
)
from bus.tools.console.templating import HERE
from bus.tools.console.throttle import LoginAttempts, LoginLimits

SCOPE = "console"
"""The console's name in its namespace, for its Redis keys (sessions, login windows)."""

SECURITY_HEADERS = {
    # Scripts and styles only from the console itself; inline styles for the SVG markers.
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


STORE_GONE = (
    "the console's {store} does not answer ({holds} are kept there); "
    "make status says whether it runs. Try again once it does."
)
"""The body of a 503 while a store the console needs is out of reach (no address in it)."""


def create_app(
    settings: BusSettings,
    users: Users,
    *,
    targets: Iterable[Service] = (),
    limits: LoginLimits = LoginLimits(),  # noqa: B008 - frozen, never mutated
    session_lifetime: float = SESSION_LIFETIME,
    allowed_hosts: Iterable[str] = (),
) -> FastAPI:
    """The console for the deployment ``settings`` names (broker, namespace, stores).

    Args:
        settings: Where to look: the broker (presences, traffic, config), MongoDB (dead
            letters) and Redis (sessions and failed logins, in the namespace's scope).
        users: The logins it accepts (:meth:`Users.from_store`).
        targets: Services whose declarations are here (not started): their settings
            models check what the config page sets.
        limits: Failed logins allowed per user name and per client address, per window.
        session_lifetime: Seconds a session lasts after its login.
        allowed_hosts: ``Host`` names (``name`` or ``name:port``) accepted besides this
            machine's own on the console's port (:mod:`bus.tools.console.hosts`); any
            other gets 400, against DNS rebinding.
    """
    extra_hosts = tuple(allowed_hosts)
    # Bounded, so a Redis that is gone answers 503 in seconds rather than hanging a page.
    redis = Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=5)
    scope = settings.scoped(SCOPE)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await connect_mongo(settings.mongo_url, [StoredDeadLetter, JournalEntry])
        tasks = [
            asyncio.create_task(app.state.presences.follow(settings)),
            asyncio.create_task(app.state.traffic.follow(settings)),
            asyncio.create_task(app.state.measurements.follow(app.state.presences)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await release_mongo(settings.mongo_url)
            await redis.aclose()

    app = FastAPI(title="Chorus console", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip
    app.state.settings = settings
    app.state.users = users
    app.state.sessions = Sessions(redis, scope, session_lifetime, users)
    app.state.login_attempts = LoginAttempts(redis, scope, limits)
    app.state.presences = Presences()
    app.state.traffic = Traffic()
    app.state.measurements = Measurements()
    app.state.targets = {t.name: t for t in targets}
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for area in (login, services, flow, events, deadletters, config, numbers):
        app.include_router(area.router)

    @app.get("/")
    async def home(session: SessionDep) -> Response:
        return RedirectResponse("/services", status.HTTP_303_SEE_OTHER)

    @app.get("/healthz")
    async def healthz() -> Response:
        """Whether the console follows the bus (no login: it tells nothing else)."""
        following = app.state.presences.connected and app.state.traffic.connected
        return JSONResponse({"status": "ok" if following else "not following the bus"},
                            200 if following else 503)  # fmt: skip

    @app.exception_handler(NotLoggedInError)
    async def not_logged_in(request: Request, _: Exception) -> Response:
        if request.method == "GET":
            return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
        return PlainTextResponse("log in first", status.HTTP_401_UNAUTHORIZED)

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def redis_gone(request: Request, _: Exception) -> Response:
        text = STORE_GONE.format(store="Redis", holds="sessions and failed logins")
        return PlainTextResponse(text, status.HTTP_503_SERVICE_UNAVAILABLE)

    @app.exception_handler(AuthenticationError)  # a ConnectionError: looked up first
    async def redis_refused(request: Request, _: Exception) -> Response:
        text = "the console's Redis refused its login: check redis.json or BUS_REDIS_URL"
        return PlainTextResponse(text, status.HTTP_503_SERVICE_UNAVAILABLE)

    @app.exception_handler(ConnectionFailure)
    async def mongo_gone(request: Request, _: Exception) -> Response:
        text = STORE_GONE.format(store="MongoDB", holds="dead letters and the journal")
        return PlainTextResponse(text, status.HTTP_503_SERVICE_UNAVAILABLE)

    @app.exception_handler(HTTPException)
    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse(str(exc.detail), exc.status_code)

    @app.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        server = request.scope.get("server")
        default_port = 443 if request.url.scheme == "https" else 80
        if not host_allowed(request.headers.get("host"), server, extra_hosts,
                            default_port=default_port):  # fmt: skip
            response: Response = PlainTextResponse("unknown host", status.HTTP_400_BAD_REQUEST)
        else:
            response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app
