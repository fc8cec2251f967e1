"""The console's door, what needs no server: the logins it accepts, and refusals that come
before any session or failed login is looked up in Redis (attacks that reach Redis are in
tests/integration/test_console_auth.py)."""

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
from bus.tools.console.auth import COOKIE, fingerprint
from bus.tools.console.hosts import valid_host

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
    console_app = create_app(BusSettings(), Users.from_store(store), allowed_hosts=["testserver"])
    async with AsyncClient(transport=ASGITransport(console_app), base_url=ORIGIN) as client:
        yield client


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


def test_the_logins_follow_the_credentials_store(store: CredentialStore) -> None:
    users = Users.from_store(store)
    users.reload_every = 0.0
    ops_file = store.root / f"{OPS}.json"
    ops_file.write_text(json.dumps({"username": OPS, "password": "new-one"}))
    assert users.check(OPS, "s3cret") is None
    assert users.check(OPS, "new-one") is Role.operator
    assert users.password_of(OPS) == "new-one"
    ops_file.write_text("{half written")  # unreadable: the last reading stays
    assert users.password_of(OPS) == "new-one"
    ops_file.unlink()
    assert users.password_of(OPS) is None
    assert users.check(OPS, "new-one") is None


def test_a_session_s_fingerprint_is_of_its_password_and_its_own_token() -> None:
    assert fingerprint("pw", "token-a") == fingerprint("pw", "token-a")
    assert fingerprint("pw", "token-a") != fingerprint("pw2", "token-a")
    assert fingerprint("pw", "token-a") != fingerprint("pw", "token-b")
    assert "pw" not in fingerprint("pw", "token-a")


def test_no_ops_credential_no_console(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="no ops credential"):
        Users.from_store(CredentialStore(tmp_path))


async def test_pages_need_a_login(client: AsyncClient) -> None:
    response = await client.get("/services")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert (await client.get("/services/stream")).status_code == 303
    assert (await client.post("/config/notifier/set", data={"key": "k"})).status_code == 401


async def test_a_cross_site_login_is_refused_before_it_is_counted(client: AsyncClient) -> None:
    response = await client.post("/login", data={"username": OPS, "password": "s3cret"},
                           headers={"origin": "http://evil.example"})  # fmt: skip
    assert response.status_code == 403


async def test_a_cross_site_logout_is_refused(client: AsyncClient) -> None:
    response = await client.post("/logout", headers={"origin": "http://evil.example"})
    assert (response.status_code, response.text) == (403, "cross-origin request refused")
    response = await client.post("/logout", headers={"referer": "http://evil.example/page"})
    assert response.status_code == 403
    assert (await client.post("/logout", headers={"origin": ORIGIN})).status_code == 303


@pytest.mark.parametrize("body", [b"username=%ff%fe&password=x", b"username=\xff&password=x"])
async def test_a_form_that_is_not_utf8_is_a_400_not_a_500(client: AsyncClient, body: bytes) -> None:
    response = await client.post("/login", content=body, headers={
        "origin": ORIGIN, "content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert (response.status_code, response.text) == (400, "a form must be UTF-8")


def test_bus_console_is_a_command_of_the_cli() -> None:
    result = CliRunner().invoke(app, ["console", "--help"])
    assert result.exit_code == 0
    assert "--port" in result.output
    assert "ops-readonly" in result.output


async def test_a_redis_that_is_gone_is_a_clear_503(store: CredentialStore) -> None:
    gone = BusSettings(redis_url="redis://127.0.0.1:9/0")  # nothing listens on port 9
    console_app = create_app(gone, Users.from_store(store), allowed_hosts=["testserver"])
    async with AsyncClient(transport=ASGITransport(console_app), base_url=ORIGIN) as client:
        login = await client.post("/login", data={"username": OPS, "password": "s3cret"},
                                  headers={"origin": ORIGIN})  # fmt: skip
        client.cookies.set(COOKIE, "a-token")
        page = await client.get("/services")
    for response in (login, page):
        assert response.status_code == 503
        assert response.text.startswith("the console's Redis does not answer")
        assert "127.0.0.1:9" not in response.text
    assert COOKIE not in login.cookies


@pytest.mark.parametrize(
    ("args", "env", "wrong"),
    [
        (["--allowed-host", "evil example"], {}, "--allowed-host 'evil example'"),
        (["--allowed-host", "[::1"], {}, "--allowed-host '[::1'"),
        ([], {"CHORUS_CONSOLE_ALLOWED_HOSTS": "ok.example bad_name"}, "'bad_name'"),
        (["--failed-logins-per-user", "0"], {}, "--failed-logins-per-user"),
        (["--login-window", "-5"], {}, "--login-window"),
    ],
)
def test_a_wrong_console_option_says_what_and_exits_non_zero(
    args: list[str], env: dict[str, str], wrong: str, tmp_path: Path
) -> None:
    # No credentials folder: each wrong option is refused before one is looked for.
    env = {"BUS_CREDENTIALS_DIR": str(tmp_path / "none"), **env}
    result = CliRunner().invoke(app, ["console", *args], env=env)
    assert result.exit_code != 0
    assert wrong in result.output


@pytest.mark.parametrize("host", ["console.example", "console.example:443", "10.0.0.5:8700",
                                  "[::1]:8700", "a-b.example", "[2001:db8::1]"])  # fmt: skip
def test_allowed_host_names_that_are_hosts(host: str) -> None:
    assert valid_host(host)


@pytest.mark.parametrize("host", ["a-b.example.", "[console.example]", "::1", "[10.0.0.5]",
                                  "bad_name", "a..b", "-a.example", "x" * 64, "", ":80",
                                  "console.example:99999"])  # fmt: skip
def test_allowed_host_names_that_are_not(host: str) -> None:
    assert not valid_host(host)
