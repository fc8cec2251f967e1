"""Serving an ASGI app with uvicorn inside a service's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn replaces the SIGINT/SIGTERM handlers while it serves; here the
        # service (``bus run``) owns the signals and stops the server itself.
        yield


class HttpServer:
    """uvicorn on ``host:port`` (port 0: a free one, see :attr:`port`).

    ``http`` is uvicorn's HTTP protocol class (e.g. one that answers unparseable requests
    in the app's own error format). Proxy headers are not trusted: ``X-Forwarded-For`` from
    a local client must not pass for another client (rate limits count per client).
    """

    def __init__(
        self, app: ASGIApp, host: str, port: int, *, http: type[asyncio.Protocol] | str = "auto"
    ) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", http=http,
            proxy_headers=False,
        )  # fmt: skip
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None
        self.host = host
        self.port = port

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises why it could not start
                raise RuntimeError("the HTTP server stopped before it started")
            await asyncio.sleep(0.02)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"
