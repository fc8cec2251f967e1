"""``bus dlq``: inspect, group, replay and discard dead letters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from bus.deadletters import StoredDeadLetter
from bus.deadletters.durations import parse_duration
from bus.deadletters.groups import LetterGroup, group_letters
from bus.deadletters.models import Kind
from bus.deadletters.store import (
    BATCH,
    LetterFilter,
    LetterSummary,
    Progress,
    discard_letters,
    find_letter,
    list_letters,
    request_replays,
    summaries,
)
from bus.mongo import connect_mongo, release_mongo
from bus.settings import BusSettings
from bus.tools.cli._common import CONNECT_TIMEOUT, console, err_console, fail, run

T = TypeVar("T")

app = typer.Typer(help="Inspect, group, replay and discard dead letters.", no_args_is_help=True)


def _duration(value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


ServiceOption = Annotated[str | None, typer.Option("--service", help="Only this service's")]
KindOption = Annotated[Kind | None, typer.Option("--kind", help="Only this kind")]
ReasonOption = Annotated[
    str | None,
    typer.Option(
        "--reason", help="Only those whose reason contains this text (plain text, case ignored)"
    ),
]
OlderOption = Annotated[
    timedelta | None,
    typer.Option(
        "--older-than",
        parser=_duration,
        metavar="DURATION",
        help="Only those that last failed at least this long ago: 30m, 12h, 7d, P30D",
    ),
]
GroupOption = Annotated[
    str | None, typer.Option("--group", help="Only this group's (its key in 'bus dlq groups')")
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON document per line")]


def _filter(
    service: str | None,
    kind: Kind | None,
    reason: str | None,
    older_than: timedelta | None,
    group: str | None,
) -> LetterFilter:
    return LetterFilter(
        service=service, kind=kind, reason=reason, older_than=older_than, group=group
    )


@app.command("list")
def list_command(  # noqa: PLR0917 - typer turns each parameter into an option
    service: ServiceOption = None,
    kind: KindOption = None,
    reason: ReasonOption = None,
    older_than: OlderOption = None,
    group: GroupOption = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List dead letters, newest first."""
    where = _filter(service, kind, reason, older_than, group)
    letters = run(_with_store(list_letters(where, limit=limit)))
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


@app.command("groups")
def groups_command(
    service: ServiceOption = None,
    kind: KindOption = None,
    reason: ReasonOption = None,
    older_than: OlderOption = None,
    as_json: JsonOption = False,
) -> None:
    """Count dead letters by cause: service, kind, error type and reason shape.

    The shape is the reason with numbers, ids, uuids and times replaced; the largest
    group comes first. A group's key narrows list, replay and discard to it: --group KEY.
    """
    where = _filter(service, kind, reason, older_than, None)
    groups = group_letters(_select(where))
    if as_json:
        for group in groups:
            print(json.dumps(_group_json(group)))
        return
    console.print(_groups_table(groups))
    if not groups:
        console.print("[dim]no dead letters[/]")


@app.command("show")
def show_command(letter_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Everything about one dead letter (ID or a unique prefix of it)."""
    letter = run(_with_store(find_letter(letter_id)))
    if letter is None:
        fail(f"no dead letter {letter_id!r} (see 'bus dlq list')")
    print(json.dumps(letter.model_dump(mode="json", exclude={"revision_id"}), indent=2))


@app.command("replay")
def replay_command(  # noqa: PLR0917 - typer turns each parameter into an option
    letter_id: Annotated[str | None, typer.Argument(metavar="[ID]")] = None,
    replay_all: Annotated[
        bool, typer.Option("--all", help="Every dead letter the filters select")
    ] = False,
    service: ServiceOption = None,
    kind: KindOption = None,
    reason: ReasonOption = None,
    older_than: OlderOption = None,
    group: GroupOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what, replay nothing")] = False,
) -> None:
    """Deliver dead letters again to the service that failed them, and only to it.

    One letter by ID (or a unique prefix), or --all of those the filters select. A
    letter disappears once its service has handled the event.
    """
    where = _filter(service, kind, reason, older_than, group)
    _one_or_all(letter_id, replay_all, where)
    settings = BusSettings()
    if letter_id is not None:
        letter = run(_with_store(find_letter(letter_id)))
        if letter is None:
            fail(f"no dead letter {letter_id!r} (see 'bus dlq list')")
        if dry_run:
            console.print(f"would replay {letter.id} ({letter.service}, {letter.kind})")
            return
        run(_with_store(_replay([letter.id], settings, progress=False)))
        console.print("asked for 1 replay(s)")
        return
    selected = _select(where)
    if dry_run or not selected:
        _print_selection(selected, "would replay" if dry_run else "")
        return
    run(_with_store(_replay([s.id for s in selected], settings, progress=True)))
    console.print(f"asked for {len(selected)} replay(s)")


@app.command("discard")
def discard_command(  # noqa: PLR0917 - typer turns each parameter into an option
    letter_id: Annotated[str | None, typer.Argument(metavar="[ID]")] = None,
    discard_all: Annotated[
        bool, typer.Option("--all", help="Every dead letter the filters select")
    ] = False,
    service: ServiceOption = None,
    kind: KindOption = None,
    reason: ReasonOption = None,
    older_than: OlderOption = None,
    group: GroupOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what, delete nothing")] = False,
) -> None:
    """Delete dead letters for good.

    One by ID (or a unique prefix), or --all of those the filters select, after
    confirming their count (unless --yes). Exactly the letters counted are deleted, not
    any that arrive meanwhile. A failed job's letter takes arq's kept failure with it,
    so the job can be asked for again.
    """
    where = _filter(service, kind, reason, older_than, group)
    _one_or_all(letter_id, discard_all, where)
    settings = BusSettings()
    if letter_id is not None:
        letter = run(_with_store(find_letter(letter_id)))
        if letter is None:
            fail(f"no dead letter {letter_id!r} (see 'bus dlq list')")
        what = f"{letter.id} ({letter.service}, {letter.kind}: {letter.reason})"
        if dry_run:
            console.print(f"would discard {what}", highlight=False)
            return
        deleted = run(_with_store(discard_letters([letter.id], settings)))
        console.print(f"discarded {what}" if deleted else f"{letter.id} was already gone")
        return
    selected = _select(where)
    if not selected or dry_run:
        _print_selection(selected, "would discard" if dry_run else "")
        return
    _print_selection(selected, "to discard")
    if not yes:
        typer.confirm(f"Discard these {len(selected)} dead letter(s) for good?", abort=True)
    ids = [s.id for s in selected]
    with _progress("discarding", len(ids)) as advance:
        deleted = run(_with_store(discard_letters(ids, settings, progress=advance)))
    gone = len(ids) - deleted
    console.print(
        f"discarded {deleted} dead letter(s)" + (f" ({gone} were already gone)" if gone else "")
    )


def _one_or_all(letter_id: str | None, every: bool, where: LetterFilter) -> None:
    if letter_id is None and not every:
        fail("give one dead letter ID, or --all (narrowed by --service, --kind, --reason, ...)")
    if letter_id is not None and every:
        fail("give one dead letter ID or --all, not both")
    if letter_id is not None and not where.empty:
        fail("--service, --kind, --reason, --older-than and --group go with --all")


async def _replay(ids: Sequence[str], settings: BusSettings, *, progress: bool) -> None:
    with _progress("replaying", len(ids) if progress else 0) as advance:
        for start in range(0, len(ids), BATCH):
            batch = await StoredDeadLetter.find(
                {"_id": {"$in": list(ids[start : start + BATCH])}}
            ).to_list()
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await request_replays(batch, settings, progress=advance)


def _select(where: LetterFilter) -> list[LetterSummary]:
    # A spinner meanwhile: FerretDB reads every letter for a filter (seconds per thousand).
    with err_console.status("reading dead letters"):
        return run(_with_store(summaries(where)))


@contextmanager
def _progress(what: str, total: int) -> Iterator[Progress]:
    """A progress bar on stderr for ``total`` letters (none for a batch or fewer)."""
    if total <= BATCH:
        yield lambda done: None
        return
    columns = (TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with RichProgress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda done: bar.advance(task, done)


def _print_selection(selected: list[LetterSummary], verb: str) -> None:
    if not selected:
        console.print("no dead letters match")
        return
    console.print(_groups_table(group_letters(selected)))
    if verb:
        console.print(f"{verb}: {len(selected)} dead letter(s)")


def _groups_table(groups: list[LetterGroup]) -> Table:
    table = Table()
    for column in ("group", "count", "service", "kind", "error type", "newest", "oldest"):
        table.add_column(column, no_wrap=True)
    table.add_column("reason shape")
    for group in groups:
        table.add_row(
            group.key, str(group.count), group.service, group.kind,
            group.error_type.rsplit(".", 1)[-1] or "-",
            f"{group.newest:%Y-%m-%d %H:%M}", f"{group.oldest:%Y-%m-%d %H:%M}", group.shape,
        )  # fmt: skip
    return table


def _group_json(group: LetterGroup) -> dict[str, Any]:
    return {
        "key": group.key,
        "count": group.count,
        "service": group.service,
        "kind": group.kind,
        "error_type": group.error_type,
        "shape": group.shape,
        "newest": group.newest.isoformat(),
        "oldest": group.oldest.isoformat(),
        "example_id": group.example_id,
        "example_reason": group.example_reason,
    }


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
