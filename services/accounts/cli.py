"""``python -m services.accounts``: create users and look at their quota.

Reads the database from the environment (``BUS_POSTGRES_URL``) and the default
quota from ``ACCOUNTS_DEFAULT_MAX_DOCUMENTS`` and ``ACCOUNTS_DEFAULT_MAX_BYTES``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from bus import BusSettings
from services.accounts.db import open_database, redacted
from services.accounts.keys import AccountExistsError, InvalidAccountError, create_user
from services.accounts.keys import revoke_api_key as revoke
from services.accounts.queries import AccountsReader
from services.accounts.quota import format_size

T = TypeVar("T")

app = typer.Typer(
    name="accounts",
    help="Chorus accounts: users, API keys and quota.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _run(work: Coroutine[Any, Any, T], postgres_url: str) -> T:
    """Run ``work``; a database that cannot be reached is one line and exit 1."""
    try:
        return asyncio.run(work)
    except (OSError, DBAPIError) as exc:
        reason = getattr(exc, "orig", None) or exc
        _fail(f"cannot use PostgreSQL at {redacted(postgres_url)}: {reason}")


@app.command("create-user")
def create_user_command(
    email: Annotated[str, typer.Argument(help="The user's email address (unique).")],
    name: Annotated[str | None, typer.Option(help="A display name.")] = None,
    max_documents: Annotated[
        int | None, typer.Option(help="Documents the user may hold [default: 100].")
    ] = None,
    max_bytes: Annotated[
        int | None, typer.Option(help="Bytes the user may hold [default: 100 MiB].")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {user_id, email, api_key} as JSON.")
    ] = False,
) -> None:
    """Create a user with a quota and an API key, and print the key (shown only this once)."""
    url = BusSettings().postgres_url
    try:
        user = _run(
            create_user(url, email, name=name, max_documents=max_documents, max_bytes=max_bytes),
            url,
        )
    except (InvalidAccountError, AccountExistsError) as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(
            json.dumps({"user_id": user.user_id, "email": user.email, "api_key": user.api_key})
        )
        return
    out.print(f"created [bold]{user.email}[/]", highlight=False)
    out.print(f"user id  {user.user_id}", highlight=False)
    out.print(f"API key  [bold green]{user.api_key}[/]", highlight=False, soft_wrap=True)
    out.print("[dim]The key is not stored and will not be shown again.[/]")


@app.command("show-user")
def show_user_command(
    email: Annotated[str, typer.Argument(help="The user's email address.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the quota as JSON.")] = False,
) -> None:
    """Show a user's quota and what is used of it."""
    url = BusSettings().postgres_url

    async def look() -> tuple[str, str, dict[str, int]] | None:
        async with AccountsReader(url, pool_size=1) as reader:
            identity = await reader.find(email)
            quota = None if identity is None else await reader.quota(identity.user_id)
        if identity is None or quota is None:
            return None
        usage = {
            "documents_used": quota.documents_used, "max_documents": quota.max_documents,
            "bytes_used": quota.bytes_used, "max_bytes": quota.max_bytes,
        }  # fmt: skip
        return identity.user_id, identity.email, usage

    found = _run(look(), url)
    if found is None:
        _fail(f"no account for {email}")
    user_id, address, usage = found
    if as_json:
        typer.echo(json.dumps({"user_id": user_id, "email": address, **usage}))
        return
    table = Table(title=address, show_header=True, title_justify="left")
    table.add_column("")
    table.add_column("used", justify="right")
    table.add_column("of", justify="right")
    table.add_row("documents", str(usage["documents_used"]), str(usage["max_documents"]))
    table.add_row("bytes", format_size(usage["bytes_used"]), format_size(usage["max_bytes"]))
    out.print(f"user id  {user_id}", highlight=False)
    out.print(table)


@app.command("revoke-key")
def revoke_key_command(
    api_key: Annotated[str, typer.Argument(help="The API key to revoke.")],
) -> None:
    """Revoke an API key from now on."""
    url = BusSettings().postgres_url

    async def revoke_it() -> bool:
        async with open_database(url, pool_size=1, create=False) as sessions, sessions() as s:
            return await revoke(s, api_key)

    if not _run(revoke_it(), url):
        _fail("no active key like that")
    out.print("revoked")


def main() -> None:
    """The ``python -m services.accounts`` entry point."""
    app()
