"""Live updates: a page's parts re-rendered on the server and sent by Server-Sent Events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import Request
from pymongo.errors import ConnectionFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sse_starlette.sse import EventSourceResponse

from bus.tools.console.auth import COOKIE, Sessions

log = logging.getLogger(__name__)

STORE_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionFailure)
"""Redis (sessions) or MongoDB (dead letters, the journal) out of reach."""

TICK = 1.0
"""Seconds between two renderings of a live part."""


def live(
    request: Request, render: Callable[[], Awaitable[str]], *, every: float = TICK
) -> EventSourceResponse:
    """An event stream sending ``render()`` as an ``update`` event at once, then each
    time it changes (checked every ``every`` seconds), until the browser leaves or its
    session ends: logged out, expired or revoked (looked up again before each rendering,
    so a stream opened by a session never outlives it by more than ``every``)."""
    sessions: Sessions = request.app.state.sessions
    token = request.cookies.get(COOKIE)

    async def updates() -> AsyncIterator[dict[str, str]]:
        last, unreachable = None, False
        while not await request.is_disconnected():
            try:
                if await sessions.get(token) is None:
                    return
                html = await render()
            except STORE_ERRORS as exc:
                # Nothing is sent while a store is out of reach (the session cannot be
                # checked either); the stream goes on once it is back.
                if not unreachable:
                    log.warning("live page %s: a store does not answer (%s)",
                                request.url.path, type(exc).__name__)  # fmt: skip
                unreachable = True
                await asyncio.sleep(every)
                continue
            unreachable = False
            if html != last:
                yield {"event": "update", "data": html}
                last = html
            await asyncio.sleep(every)

    return EventSourceResponse(updates(), ping=15)
