"""``bus dlq``: inspect and replay dead letters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from bus.deadletters import StoredDeadLetter
from bus.deadletters.store import find_letter, list_letters, request_replays
from bus.mongo import connect_mongo, release_mongo
from bus.settings import BusSettings
from bus.tools.cli._common import CONNECT_TIMEOUT, console, fail, run

T = TypeVar("T")

app = typer.Typer(help="Inspect and replay dead letters.", no_args_is_help=True)

ServiceOption = Annotated[str | None, typer.Option("--service", help="Only this service's")]


@app.command("list")
def list_command(
    service: ServiceOption = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document per line")] = False,
) -> None:
    """List dead letters, newest first."""
    letters = run(_with_store(list_letters(service=service, limit=limit)))
    if as_json:
        for letter in letters:
            print(letter.model_dump_json(exclude={"revision_id"}))
        return
    table = Table()
    for column in ("id", "dead at", "service", "kind", "event type", "attempts", "replays"):
        table.add_column(column, no_wrap=True)
    table.add_column("reason")
    for letter in letters:
        table.add_row(
            letter.id[:12],
            f"{letter.dead_at:%Y-%m-%d %H:%M:%S}",
            letter.service,
            letter.kind,
            letter.event_type or "-",
            str(letter.attempts),
            str(letter.replays),
            letter.reason,
        )
    console.print(table)
    if not letters:
        console.print("[dim]no dead letters[/]")


@app.command("show")
def show_command(letter_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Everything about one dead letter (ID or a unique prefix of it)."""
    letter = run(_with_store(find_letter(letter_id)))
    if letter is None:
        fail(f"no dead letter {letter_id!r} (see 'bus dlq list')")
    print(json.dumps(letter.model_dump(mode="json", exclude={"revision_id"}), indent=2))


@app.command("replay")
def replay_command(
    letter_id: Annotated[str | None, typer.Argument(metavar="[ID]")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Every dead letter")] = False,
    service: ServiceOption = None,
) -> None:
    """Deliver dead letters again to the service that failed them, and only to it.

    A letter disappears once its service has handled the event.
    """
    if (letter_id is None) == (not replay_all):
        fail("give either one dead letter ID or --all")
    if letter_id is not None and service is not None:
        fail("--service goes with --all")
    settings = BusSettings()

    async def replay() -> list[StoredDeadLetter]:
        if letter_id is not None:
            letter = await find_letter(letter_id)
            if letter is None:
                return []
            letters = [letter]
        else:
            letters = await list_letters(service=service, limit=100_000)
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await request_replays(letters, settings)
        return letters

    letters = run(_with_store(replay()))
    if letter_id is not None and not letters:
        fail(f"no dead letter {letter_id!r} (see 'bus dlq list')")
    console.print(f"asked for {len(letters)} replay(s)")


async def _with_store(operation: Coroutine[Any, Any, T]) -> T:
    try:
        url = BusSettings().mongo_url
        await connect_mongo(url, [StoredDeadLetter])
    except BaseException:
        operation.close()
        raise
    try:
        return await operation
    finally:
        await release_mongo(url)
