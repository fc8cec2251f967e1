"""The console's door: logins, the session cookie, CSRF and the read-only role, attacked
through the real application (no broker needed: every refusal comes first)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient
from typer.testing import CliRunner

from bus import BusSettings
from bus.security import OPS, OPS_READONLY, CredentialStore
from bus.tools.cli import app
from bus.tools.console import Role, Users, create_app

ORIGIN = "http://testserver"


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    folder = tmp_path / "credentials"
    folder.mkdir(mode=0o700)
    (folder / f"{OPS}.json").write_text(json.dumps({"username": OPS, "password": "s3cret"}))
    return CredentialStore(folder)


@pytest.fixture
async def client(store: CredentialStore) -> AsyncIterator[AsyncClient]:
    # ASGITransport runs no lifespan: the broker and MongoDB are never reached.
    console_app = create_app(BusSettings(), Users.from_store(store))
    async with AsyncClient(transport=ASGITransport(console_app), base_url=ORIGIN) as client:
        yield client


async def login(client: AsyncClient, username: str, password: str) -> int:
    response = await client.post("/login", data={"username": username, "password": password},
                           headers={"origin": ORIGIN})  # fmt: skip
    return response.status_code


def test_the_readonly_login_is_generated_once_owner_only(store: CredentialStore) -> None:
    first = store.ensure_identity(OPS_READONLY)
    again = store.ensure_identity(OPS_READONLY)
    assert first == again
    assert first.username == OPS_READONLY
    assert len(first.password) >= 40
    assert (store.root / f"{OPS_READONLY}.json").stat().st_mode & 0o777 == 0o600
    users = Users.from_store(store)
    assert users.check(OPS, "s3cret") is Role.operator
    assert users.check(OPS_READONLY, first.password) is Role.viewer
    assert users.check(OPS, first.password) is None
    assert users.check(OPS_READONLY, "s3cret") is None


def test_no_ops_credential_no_console(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="no ops credential"):
        Users.from_store(CredentialStore(tmp_path))


async def test_a_wrong_password_is_refused_and_pages_need_a_login(client: AsyncClient) -> None:
    assert await login(client, OPS, "wrong") == 401
    assert await login(client, "nobody", "s3cret") == 401
    assert "chorus_console" not in client.cookies
    response = await client.get("/services")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert (await client.get("/services/stream")).status_code == 303


async def test_the_session_cookie_is_httponly_and_samesite_strict(client: AsyncClient) -> None:
    response = await client.post("/login", data={"username": OPS, "password": "s3cret"},
                           headers={"origin": ORIGIN})  # fmt: skip
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
    client: AsyncClient, path: str, data: dict[str, str]
) -> None:
    assert await login(client, OPS, "s3cret") == 303
    headers = {"origin": ORIGIN}
    missing = await client.post(path, data=data, headers=headers)
    assert missing.status_code == 403
    assert "CSRF" in missing.text
    forged = await client.post(path, data={**data, "csrf_token": "forged"}, headers=headers)
    assert forged.status_code == 403
    assert "CSRF" in forged.text
    token = await _token(client)
    elsewhere = await client.post(path, data={**data, "csrf_token": token},
                            headers={"origin": "http://evil.example"})  # fmt: skip
    assert elsewhere.status_code == 403
    assert "cross-origin" in elsewhere.text


async def test_the_readonly_role_can_look_and_cannot_act(
    client: AsyncClient, store: CredentialStore
) -> None:
    viewer = store.ensure_identity(OPS_READONLY)
    assert await login(client, viewer.username, viewer.password) == 303
    token = await _token(client)
    form = {"key": "retry_attempts", "value": "3", "csrf_token": token}
    refused = await client.post("/config/notifier/set", headers={"origin": ORIGIN}, data=form)
    assert refused.status_code == 403
    assert "read-only" in refused.text


async def test_a_cross_site_login_is_refused(client: AsyncClient) -> None:
    response = await client.post("/login", data={"username": OPS, "password": "s3cret"},
                           headers={"origin": "http://evil.example"})  # fmt: skip
    assert response.status_code == 403


async def _token(client: AsyncClient) -> str:
    # The services page needs no broker to render (it shows none); its head carries the token.
    html = (await client.get("/services")).text
    marker = 'name="csrf-token" content="'
    assert marker in html
    return html.split(marker, 1)[1].split('"', 1)[0]


def test_bus_console_is_a_command_of_the_cli() -> None:
    result = CliRunner().invoke(app, ["console", "--help"])
    assert result.exit_code == 0
    assert "--port" in result.output
    assert "ops-readonly" in result.output
