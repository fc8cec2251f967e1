"""The console's door, attacked over real HTTP: a console served on a loopback port,
its sessions and failed logins in the real Redis (in the test's namespace).

Guessing passwords, one name or many, gets throttled; a session lives in Redis under a
hash of its cookie, survives a restart of the console, and dies at logout or expiry; a
forged cookie, a missing CSRF token, a cross-site form and the read-only role are refused.
A second client address is a second loopback address (127.0.0.2): Linux routes the whole
127.0.0.0/8 to the loopback interface.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from redis.asyncio import Redis

from bus import BusSettings
from bus.security import OPS, OPS_READONLY, CredentialStore
from bus.tools.console import Users
from bus.tools.console.auth import COOKIE, SESSION_KEY
from bus.tools.console.throttle import LoginLimits
from tests.browser.conftest import SESSION_LIFETIME, Console, serve_console
from tests.helpers import eventually

PASSWORD = "s3cret-for-ops"
ELSEWHERE = "127.0.0.2"
"""Another client address than the tests' default (127.0.0.1)."""

LIMITS = LoginLimits()
"""What the consoles here run with (the defaults)."""


@pytest.fixture
def users(tmp_path: Path) -> Users:
    folder = tmp_path / "credentials"
    folder.mkdir(mode=0o700)
    (folder / f"{OPS}.json").write_text(json.dumps({"username": OPS, "password": PASSWORD}))
    return Users.from_store(CredentialStore(folder))


@pytest.fixture
def console(settings: BusSettings, users: Users) -> Iterator[Callable[..., Console]]:
    """Serve a console for the test's namespace (``create_app``'s options); stopped
    afterwards (its Redis keys expire on their own within minutes)."""
    started: list[Console] = []

    def start(**options: Any) -> Console:
        running = serve_console(settings, users, **options)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@dataclass
class Sides:
    """A console, a client guessing from 127.0.0.1 and another from :data:`ELSEWHERE`."""

    console: Console
    attacker: httpx.AsyncClient
    other: httpx.AsyncClient


@pytest.fixture
async def sides(console: Callable[..., Console]) -> AsyncIterator[Sides]:
    running = console()
    async with browser_at(running) as attacker, browser_at(running, ELSEWHERE) as other:
        yield Sides(running, attacker, other)


@pytest.fixture
async def redis(settings: BusSettings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    yield client
    await client.aclose()


def browser_at(console: Console, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client of ``console`` from ``address``, sending its pages' ``Origin`` as a browser
    does; it keeps the cookies it gets."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=console.url, transport=transport, timeout=30,
                             headers={"origin": console.url})  # fmt: skip


async def log_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/login", data={"username": username, "password": password})


def refused_for_a_while(response: httpx.Response) -> bool:
    """429 with a Retry-After within the window, the login page saying why, no cookie."""
    wait = int(response.headers.get("retry-after", "0"))
    return (
        response.status_code == 429
        and 0 < wait <= LIMITS.window
        and "too many failed logins" in response.text
        and COOKIE not in response.cookies
    )


async def test_six_wrong_passwords_lock_ops_out_even_with_the_right_one_and_no_one_else(
    sides: Sides,
) -> None:
    attacker, other = sides.attacker, sides.other
    for _ in range(LIMITS.per_user):
        assert (await log_in(attacker, OPS, "guess")).status_code == 401
    assert refused_for_a_while(await log_in(attacker, OPS, "guess"))
    assert refused_for_a_while(await log_in(attacker, OPS, PASSWORD))
    # The name's window holds from any address...
    assert refused_for_a_while(await log_in(other, OPS, PASSWORD))
    # ...and only for that name: another one, from another address, is checked.
    assert (await log_in(other, OPS_READONLY, "guess")).status_code == 401
    viewer = sides.console.login_of(OPS_READONLY)
    assert (await log_in(other, OPS_READONLY, viewer)).status_code == 303
    assert (await other.get("/services")).status_code == 200


async def test_a_successful_login_does_not_count_against_its_name(
    console: Callable[..., Console],
) -> None:
    running = console()
    async with browser_at(running) as client:
        for _ in range(LIMITS.per_user + 1):
            assert (await log_in(client, OPS, PASSWORD)).status_code == 303
        for _ in range(LIMITS.per_user):
            assert (await log_in(client, OPS, "typo")).status_code == 401
        assert (await log_in(client, OPS, PASSWORD)).status_code == 429


async def test_one_password_sprayed_over_many_names_is_throttled_per_address(
    sides: Sides,
) -> None:
    attacker = sides.attacker
    for n in range(LIMITS.per_client):
        assert (await log_in(attacker, f"admin{n}", "Winter2026!")).status_code == 401
    assert refused_for_a_while(await log_in(attacker, "root", "Winter2026!"))
    assert refused_for_a_while(await log_in(attacker, OPS, PASSWORD))
    # The address is refused, not the names: ops from elsewhere gets in.
    assert (await log_in(sides.other, OPS, PASSWORD)).status_code == 303


async def test_a_session_survives_a_restart_of_the_console_and_dies_at_logout(
    console: Callable[..., Console],
) -> None:
    first = console()
    async with browser_at(first) as client:
        assert (await log_in(client, OPS, PASSWORD)).status_code == 303
        cookie = client.cookies[COOKIE]
    first.stop()

    restarted = console()  # a new application, a new process's memory: the same Redis
    async with browser_at(restarted) as client:
        client.cookies.set(COOKIE, cookie)
        page = await client.get("/services")
        assert page.status_code == 200
        assert 'id="who"' in page.text
        assert (await client.post("/logout")).status_code == 303

    async with browser_at(restarted) as replayed:  # the old cookie, kept by an attacker
        replayed.cookies.set(COOKIE, cookie)
        refused = await replayed.get("/services")
        assert (refused.status_code, refused.headers["location"]) == (303, "/login")


async def test_a_live_stream_ends_when_its_session_is_logged_out(
    console: Callable[..., Console],
) -> None:
    running = console()
    async with browser_at(running) as client, browser_at(running) as other_tab:
        assert (await log_in(client, OPS, PASSWORD)).status_code == 303
        other_tab.cookies.set(COOKIE, client.cookies[COOKIE])
        async with client.stream("GET", "/services/stream") as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            async with asyncio.timeout(10):
                while await anext(lines) != "event: update":
                    pass
            assert (await other_tab.post("/logout")).status_code == 303
            async with asyncio.timeout(5):  # well before its next ping (15 s)
                rest = [line async for line in lines]
        assert "event: update" not in rest  # nothing rendered for the closed session


async def test_a_live_stream_outlives_a_redis_outage_and_then_checks_its_session_again(
    console: Callable[..., Console],
) -> None:
    running = console()
    sessions = running.app.state.sessions
    async with browser_at(running) as client, browser_at(running) as other_tab:
        assert (await log_in(client, OPS, PASSWORD)).status_code == 303
        other_tab.cookies.set(COOKIE, client.cookies[COOKIE])
        async with client.stream("GET", "/services/stream") as stream:
            lines = stream.aiter_lines()
            async with asyncio.timeout(10):
                while await anext(lines) != "event: update":
                    pass
            rest: list[str] = []

            async def read_rest() -> None:
                rest.extend([line async for line in lines])

            reading = asyncio.create_task(read_rest())
            working, sessions.redis = sessions.redis, Redis.from_url("redis://127.0.0.1:9/0")
            try:
                await asyncio.sleep(3)  # three ticks with no Redis to check the session
                assert not reading.done(), f"the stream ended while Redis was gone: {rest}"
            finally:
                await sessions.redis.aclose()
                sessions.redis = working
            assert (await other_tab.post("/logout")).status_code == 303
            async with asyncio.timeout(5):  # checked again: the logout ends it
                await reading
        assert "event: update" not in rest


async def test_a_live_stream_ends_when_its_session_expires(
    console: Callable[..., Console],
) -> None:
    running = console(session_lifetime=2.0)
    async with browser_at(running) as client:
        assert (await log_in(client, OPS, PASSWORD)).status_code == 303
        async with client.stream("GET", "/services/stream") as stream:
            assert stream.status_code == 200
            async with asyncio.timeout(8):
                [line async for line in stream.aiter_lines()]


async def test_a_password_change_ends_the_sessions_opened_with_the_old_one(
    console: Callable[..., Console], users: Users, redis: Redis, settings: BusSettings
) -> None:
    assert users.store is not None
    ops_file = users.store.root / f"{OPS}.json"
    running = console()
    async with browser_at(running) as client, browser_at(running) as other:
        assert (await log_in(client, OPS, PASSWORD)).status_code == 303
        token = client.cookies[COOKIE]
        assert (await client.get("/services")).status_code == 200
        async with client.stream("GET", "/services/stream") as stream:
            lines = stream.aiter_lines()
            async with asyncio.timeout(10):
                while await anext(lines) != "event: update":
                    pass
            ops_file.write_text(json.dumps({"username": OPS, "password": "changed-password"}))
            async with asyncio.timeout(10):  # the stream ends too
                [line async for line in lines]

        async def logged_out() -> bool:
            return (await client.get("/services")).status_code == 303

        await eventually(logged_out, within=10, what="the old password's session to end")
        digest = hashlib.sha256(token.encode()).hexdigest()
        key = SESSION_KEY.format(scope=settings.scoped("console"), digest=digest)
        assert await redis.get(key) is None  # revoked, not kept
        assert (await log_in(other, OPS, PASSWORD)).status_code == 401
        assert (await log_in(other, OPS, "changed-password")).status_code == 303
        assert (await other.get("/services")).status_code == 200


async def test_a_request_naming_another_host_is_refused(console: Callable[..., Console]) -> None:
    """DNS rebinding: a page of evil.example, its name pointed at 127.0.0.1, reaches the
    console with ``Host: evil.example:<port>``, as the browser sends."""
    running = console()
    port = running.url.rsplit(":", 1)[1]
    async with browser_at(running) as client:
        for host in (f"evil.example:{port}", "evil.example", "127.0.0.1:1"):
            refused = await client.get("/login", headers={"host": host})
            assert (refused.status_code, refused.text) == (400, "unknown host"), host
            posted = await log_in_as(client, host)
            assert posted.status_code == 400
            assert COOKIE not in posted.cookies
        for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
            assert (await client.get("/login", headers={"host": host})).status_code == 200
    running.stop()  # one console at a time in a process (they share its MongoDB client)
    named = console(allowed_hosts=["console.example"])
    async with browser_at(named) as client:
        answer = await client.get("/login", headers={"host": "console.example:9"})
        assert answer.status_code == 200


async def log_in_as(client: httpx.AsyncClient, host: str) -> httpx.Response:
    return await client.post("/login", data={"username": OPS, "password": PASSWORD},
                             headers={"host": host, "origin": f"http://{host}"})  # fmt: skip


async def test_an_expired_session_is_refused(console: Callable[..., Console]) -> None:
    running = console(session_lifetime=1.0)
    async with browser_at(running) as client:
        assert (await log_in(client, OPS, PASSWORD)).status_code == 303
        assert (await client.get("/services")).status_code == 200

        async def logged_out() -> bool:
            return (await client.get("/services")).status_code == 303

        await eventually(logged_out, within=10, what="the session to expire")


async def test_a_forged_cookie_is_refused_and_redis_holds_no_cookie(
    console: Callable[..., Console], settings: BusSettings, redis: Redis
) -> None:
    running = console()
    async with browser_at(running) as forger:
        forger.cookies.set(COOKIE, secrets.token_urlsafe(32))
        page = await forger.get("/services")
        assert (page.status_code, page.headers["location"]) == (303, "/login")
        action = await forger.post("/config/notifier/set", data={"key": "k", "value": "1"})
        assert action.status_code == 401

    async with browser_at(running) as client:
        assert (await log_in(client, OPS, PASSWORD)).status_code == 303
        token = client.cookies[COOKIE]
    scope = settings.scoped("console")
    pattern = SESSION_KEY.format(scope=scope, digest="*")
    stored = [key async for key in redis.scan_iter(pattern, count=10_000)]
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert stored == [SESSION_KEY.format(scope=scope, digest=digest).encode()]
    value = await redis.get(stored[0])
    assert value is not None
    assert token.encode() not in stored[0]
    assert token.encode() not in value
    assert 0 < await redis.pttl(stored[0]) <= SESSION_LIFETIME * 1000


async def test_a_wrong_password_is_refused_and_pages_need_a_login(
    console: Callable[..., Console],
) -> None:
    async with browser_at(console()) as client:
        assert (await log_in(client, OPS, "wrong")).status_code == 401
        assert (await log_in(client, "nobody", PASSWORD)).status_code == 401
        assert COOKIE not in client.cookies
        response = await client.get("/services")
        assert (response.status_code, response.headers["location"]) == (303, "/login")
        assert (await client.get("/services/stream")).status_code == 303


async def test_the_session_cookie_is_httponly_and_samesite_strict(
    console: Callable[..., Console],
) -> None:
    async with browser_at(console()) as client:
        response = await log_in(client, OPS, PASSWORD)
        assert response.status_code == 303
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "path=/" in cookie
        page = await client.get("/login")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/deadletters/group/abc/discard", {"confirmed": ""}),
        ("/deadletters/letter/abc/replay", {"confirmed": "yes"}),
        ("/config/notifier/set", {"key": "retry_attempts", "value": "3"}),
    ],
)
async def test_an_action_without_the_right_csrf_token_or_from_elsewhere_is_refused(
    console: Callable[..., Console], path: str, data: dict[str, str]
) -> None:
    async with browser_at(console()) as client:
        assert (await log_in(client, OPS, PASSWORD)).status_code == 303
        missing = await client.post(path, data=data)
        assert missing.status_code == 403
        assert "CSRF" in missing.text
        forged = await client.post(path, data={**data, "csrf_token": "forged"})
        assert forged.status_code == 403
        assert "CSRF" in forged.text
        token = await _token(client)
        elsewhere = await client.post(path, data={**data, "csrf_token": token},
                                      headers={"origin": "http://evil.example"})  # fmt: skip
        assert elsewhere.status_code == 403
        assert "cross-origin" in elsewhere.text


async def test_the_readonly_role_can_look_and_cannot_act(console: Callable[..., Console]) -> None:
    running = console()
    async with browser_at(running) as client:
        viewer = running.login_of(OPS_READONLY)
        assert (await log_in(client, OPS_READONLY, viewer)).status_code == 303
        form = {"key": "retry_attempts", "value": "3", "csrf_token": await _token(client)}
        refused = await client.post("/config/notifier/set", data=form)
        assert refused.status_code == 403
        assert "read-only" in refused.text


async def _token(client: httpx.AsyncClient) -> str:
    html = (await client.get("/services")).text
    marker = 'name="csrf-token" content="'
    assert marker in html
    return html.split(marker, 1)[1].split('"', 1)[0]


async def test_a_redis_that_refuses_the_console_s_login_is_a_clear_503(
    settings: BusSettings, users: Users
) -> None:
    url = urlsplit(settings.redis_url)
    assert url.password, "the stack's Redis asks for a login"
    wrong = url._replace(netloc=f"{url.username}:not-the-password@{url.hostname}:{url.port}")
    running = serve_console(settings.model_copy(update={"redis_url": wrong.geturl()}), users)
    try:
        async with browser_at(running) as client:
            answer = await log_in(client, OPS, PASSWORD)
        assert answer.status_code == 503
        assert answer.text.startswith("the console's Redis refused its login")
        assert "not-the-password" not in answer.text
    finally:
        running.stop()
