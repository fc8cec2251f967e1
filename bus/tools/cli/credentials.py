"""``bus credentials``: broker identities and the rules derived from the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bus.loader import ServiceNotFoundError, load_service
from bus.security import CredentialStore, Rules
from bus.security.apply import NoAdminError, add_outside, apply, remove, rotate, rules_of
from bus.security.dynsec import DynSecError
from bus.security.rules import replica_client_ids
from bus.service import Service
from bus.settings import BusSettings
from bus.tools.cli._common import console, fail, run
from bus.tools.graph.sources import SERVICES_FILE
from contracts import UnknownEventError, lookup

app = typer.Typer(
    help="Broker identities: one per service (rules derived from its declarations), ops, "
    "and outside teams.",
    no_args_is_help=True,
)

ServicesFile = Annotated[
    Path, typer.Option("--services-file", help="NAME [REPLICAS] per line, as make up reads it")
]
AsJson = Annotated[bool, typer.Option("--json", help="JSON instead of a table")]


def read_services(path: Path) -> list[tuple[Service, int]]:
    """The services of a services file (``NAME [REPLICAS]`` per line), loaded."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        fail(f"no services file {path}", 2)
    found: list[tuple[Service, int]] = []
    for number, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and not words[1].isdigit()):
            fail(f"{path}:{number}: expected 'NAME [REPLICAS]', got {line.strip()!r}", 2)
        try:
            service = load_service(words[0])
        except ServiceNotFoundError as exc:
            fail(f"{path}:{number}: {exc.args[0]}", 2)
        found.append((service, int(words[1]) if len(words) == 2 else 1))
    return found


@app.command("rules")
def rules_command(services_file: ServicesFile = SERVICES_FILE, as_json: AsJson = False) -> None:
    """Print what each identity may publish and subscribe to (nothing is changed)."""
    settings = BusSettings()
    rules = rules_of(
        settings, read_services(services_file), CredentialStore(settings.credentials_dir)
    )
    if as_json:
        print(json.dumps([_as_json(r) for r in rules], indent=2))
        return
    table = Table()
    for column in ("role", "client ids", "publishes", "subscribes"):
        table.add_column(column)
    for rule in rules:
        table.add_row(
            rule.role, str(len(rule.client_ids)), "\n".join(rule.publishes),
            "\n".join(rule.subscribes),
        )  # fmt: skip
    console.print(table)


@app.command("apply")
def apply_command(services_file: ServicesFile = SERVICES_FILE) -> None:
    """Create missing credentials and put every derived rule in force (make up runs it)."""
    settings = BusSettings()
    services = read_services(services_file)
    try:
        rules = run(apply(settings, services))
    except (NoAdminError, DynSecError) as exc:
        fail(str(exc))
    clients = sum(len(r.client_ids) for r in rules)
    console.print(
        f"broker rules applied: {len(rules)} identities ({clients} client ids) plus ops, "
        f"credentials in {settings.credentials_dir}",
        highlight=False,
    )


@app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="The outside team's service name")],
    produces: Annotated[
        list[str], typer.Option("--produces", help="An event type it publishes")
    ] = [],  # noqa: B006 - typer reads the default
    consumes: Annotated[
        list[str], typer.Option("--consumes", help="An event type it handles")
    ] = [],  # noqa: B006 - typer reads the default
    replicas: Annotated[int, typer.Option(min=1, max=100, help="Client ids NAME-0..")] = 2,
) -> None:
    """A credential for an outside team (a Node or Go service, a device): it may publish
    what it produces and read what it consumes through $share/NAME/…, nothing else."""
    produces, consumes = produces or [], consumes or []
    if not produces and not consumes:
        fail("give at least one --produces or --consumes event type", 2)
    for event_type in [*produces, *consumes]:
        try:
            lookup(event_type)
        except UnknownEventError as exc:
            fail(f"{exc.args[0]}", 2)
    settings = BusSettings()
    try:
        entry = run(add_outside(settings, name, produces=produces, consumes=consumes,
                                replicas=replicas))  # fmt: skip
    except (NoAdminError, DynSecError) as exc:
        fail(str(exc))
    path = settings.credentials_dir / "outside" / f"{name}.json"
    console.print(
        f"{name}: log in as one of {', '.join(entry['client_ids'])} (user name = client id); "
        f"the password is in {path} (owner-only)",
        highlight=False,
    )


@app.command("rotate")
def rotate_command(
    name: Annotated[str, typer.Argument(help="A service or an outside team")],
    replicas: Annotated[int, typer.Option(min=1, max=100, help="A service's replicas")] = 1,
) -> None:
    """A new password: running replicas keep their connection, new ones use it."""
    settings = BusSettings()
    try:
        run(rotate(settings, name, replica_client_ids(settings, name, replicas)))
    except LookupError as exc:
        fail(str(exc.args[0]), 2)
    except (NoAdminError, DynSecError) as exc:
        fail(str(exc))
    console.print(f"{name}: new password in {settings.credentials_dir}", highlight=False)


@app.command("remove")
def remove_command(
    name: Annotated[str, typer.Argument(help="A service or an outside team")],
    replicas: Annotated[int, typer.Option(min=1, max=100, help="A service's replicas")] = 1,
) -> None:
    """Delete a credential on the broker and on disk."""
    settings = BusSettings()
    try:
        run(remove(settings, name, replica_client_ids(settings, name, replicas)))
    except LookupError as exc:
        fail(str(exc.args[0]), 2)
    except (NoAdminError, DynSecError) as exc:
        fail(str(exc))
    console.print(f"{name}: removed", highlight=False)


def _as_json(rules: Rules) -> dict[str, object]:
    return {"role": rules.role, "client_ids": list(rules.client_ids),
            "acls": [acl.to_json() for acl in rules.acls]}  # fmt: skip
