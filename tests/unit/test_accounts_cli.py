"""``python -m services.accounts``: refusals say what was wrong, before connecting (users
created for real: tests/integration/test_accounts_cli.py)."""

import pytest
from typer.testing import CliRunner

from services.accounts.cli import app

# Nothing listens here: a refusal that got as far as connecting would say so instead.
NOWHERE = {"BUS_POSTGRES_URL": "postgresql+asyncpg://chorus:chorus@127.0.0.1:9/none"}


def run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create-user", "bob"], "email: not an email address: 'bob'"),
        (["create-user", "bob@", "--json"], "email: not an email address: 'bob@'"),
        (
            ["create-user", "bob@example.com", "--max-documents", "-1"],
            "max_documents: Input should be greater than or equal to 0 (got -1)",
        ),
        (
            ["create-user", "bob@example.com", "--max-bytes", "-10"],
            "max_bytes: Input should be greater than or equal to 0 (got -10)",
        ),
    ],
)
def test_create_user_refuses_bad_input_before_connecting(args: list[str], message: str) -> None:
    code, output = run(*args, env=NOWHERE)
    assert code == 1
    assert f"error: {message}" in output
    assert "Traceback" not in output


def test_a_database_that_cannot_be_reached_is_one_line() -> None:
    code, output = run("create-user", "bob@example.com", env=NOWHERE)
    assert code == 1
    assert "error: cannot use PostgreSQL at postgresql+asyncpg://chorus:***@127.0.0.1:9/none" in (
        output
    )
    assert "Traceback" not in output
