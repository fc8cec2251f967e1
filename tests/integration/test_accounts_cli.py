"""``python -m services.accounts`` on the real PostgreSQL: users are created for real (the
refusals before connecting: tests/unit/test_accounts_cli.py)."""

import asyncio
import json
import os
import subprocess
import sys

from typer.testing import CliRunner

from bus import BusSettings
from services.accounts import AccountsReader
from services.accounts.cli import app


def run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, " ".join(result.output.split())


def test_create_user_prints_a_key_that_authenticates(pg_settings: BusSettings) -> None:
    env = {"BUS_POSTGRES_URL": pg_settings.postgres_url}
    code, output = run("create-user", "Bob@Example.com", "--max-documents", "3", "--json", env=env)
    assert code == 0, output
    created = json.loads(output)
    assert created["email"] == "bob@example.com"
    assert created["api_key"].startswith("chorus_")

    code, output = run("create-user", "bob@example.com", env=env)
    assert code == 1
    assert "error: an account for bob@example.com already exists" in output

    code, output = run("show-user", "bob@example.com", "--json", env=env)
    assert code == 0, output
    assert json.loads(output) == {
        "user_id": created["user_id"], "email": "bob@example.com",
        "documents_used": 0, "max_documents": 3, "bytes_used": 0, "max_bytes": 100 * 1024**2,
    }  # fmt: skip

    code, output = run("show-user", "nobody@example.com", env=env)
    assert code == 1
    assert "error: no account for nobody@example.com" in output

    async def owner() -> str | None:
        async with AccountsReader(pg_settings.postgres_url) as reader:
            identity = await reader.authenticate(created["api_key"])
        return None if identity is None else identity.user_id

    assert asyncio.run(owner()) == created["user_id"]


def test_the_module_runs_as_a_command(pg_settings: BusSettings) -> None:
    env = {**os.environ, "BUS_POSTGRES_URL": pg_settings.postgres_url}
    command = [sys.executable, "-m", "services.accounts", "create-user", "carol@example.com"]
    created = subprocess.run(
        [*command, "--name", "Carol"], capture_output=True, text=True, env=env, timeout=60,
        check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "API key  chorus_" in created.stdout
    assert "will not be shown again" in created.stdout

    again = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert again.returncode == 1
    assert "an account for carol@example.com already exists" in again.stderr
