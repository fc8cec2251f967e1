"""``bus config``: read and change services' settings on the bus, applied live where they can be."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Final

import typer
from rich.table import Table

from bus.config import (
    ConfigError,
    Edit,
    parse_assignments,
    read_overrides,
    show,
    update_config,
    write_overrides,
)
from bus.loader import ServiceNotFoundError, load_service
from bus.service import Service
from bus.settings import BusSettings
from bus.tools.cli._common import CONNECT_TIMEOUT, console, err_console, fail, run

INVALID: Final = 2
"""Exit code for a request that is refused as it stands (nothing was published)."""

app = typer.Typer(
    help="Read and change services' settings on the bus; running replicas apply them live.",
    no_args_is_help=True,
)

ServiceArgument = Annotated[
    str, typer.Argument(metavar="SERVICE", help="e.g. notifier, or module:attribute")
]


@app.command("set")
def set_command(
    service: ServiceArgument,
    assignments: Annotated[list[str], typer.Argument(metavar="KEY=VALUE...")],
) -> None:
    """Set settings of SERVICE, merged into its retained overrides.

    VALUE is read as JSON when it is JSON (3, 0.5, true, null, ["en","de"], "text"), else
    as text. Everything is checked against the service's settings first: an unknown key,
    a secret or an invalid value is refused (exit 2) and nothing is published. Running
    replicas apply live settings at once and log the others as needing a restart;
    replicas started later get them all.
    """
    try:
        updates = parse_assignments(assignments)
    except ConfigError as exc:
        fail(str(exc), INVALID)
    target = _load(service)
    edit = _edit(target, assign=updates)
    _report(target, edit)


@app.command("unset")
def unset_command(
    service: ServiceArgument,
    keys: Annotated[list[str] | None, typer.Argument(metavar="[KEY]...")] = None,
    clear: Annotated[bool, typer.Option("--all", help="Remove every override")] = False,
) -> None:
    """Remove overrides of SERVICE, so that its replicas' own settings apply again."""
    if not keys and not clear:
        fail("give the keys to remove, or --all", INVALID)
    if clear and not keys:
        # Nothing to check, and it must work even when the retained message is garbage.
        name = _name(service)
        run(write_overrides(BusSettings(), name, {}, within=CONNECT_TIMEOUT))
        console.print(f"{name}: every override removed", highlight=False)
        return
    target = _load(service)
    edit = _edit(target, remove=keys or (), clear=clear)
    for key in keys or ():
        if key not in edit.before:
            err_console.print(f"[yellow]note:[/] {key} was not set", highlight=False)
    _report(target, edit)


@app.command("get")
def get_command(
    service: ServiceArgument,
    as_json: Annotated[bool, typer.Option("--json", help="The overrides as a JSON object")] = False,
) -> None:
    """Show the overrides retained for SERVICE (its own settings apply to every other key)."""
    name = _name(service)
    settings = BusSettings()
    try:
        overrides = run(read_overrides(settings, name, within=CONNECT_TIMEOUT))
    except ConfigError as exc:
        fail(f"{exc} ('bus config unset {name} --all' removes it)", INVALID)
    if as_json:
        print(json.dumps(overrides, sort_keys=True))
        return
    if not overrides:
        where = f" (namespace {settings.namespace})" if settings.namespace else ""
        err_console.print(f"no overrides for {name} on {settings.mqtt_url}{where}", highlight=False)
        return
    table = Table(caption=f"overrides of {name}", caption_justify="left")
    table.add_column("key", no_wrap=True)
    table.add_column("value")
    for key, value in sorted(overrides.items()):
        table.add_row(key, show(value))
    console.print(table)


def _edit(
    target: Service,
    *,
    assign: Mapping[str, Any] | None = None,
    remove: Collection[str] = (),
    clear: bool = False,
) -> Edit:
    try:
        return run(
            update_config(
                target.live_config,
                BusSettings(),
                assign=assign,
                remove=remove,
                clear=clear,
                within=CONNECT_TIMEOUT,
            )
        )
    except ConfigError as exc:
        fail(f"invalid config for {target.name}: {exc}; nothing was published", INVALID)


def _report(target: Service, edit: Edit) -> None:
    if not edit.changed:
        console.print(f"{target.name}: nothing changed", highlight=False)
        return
    for key in edit.changed:
        if key not in edit.after:
            console.print(f"{target.name}: {key} removed", highlight=False)
            continue
        when = "live" if target.live_config.is_live(key) else "after a restart"
        console.print(
            f"{target.name}: {key}={show(edit.after[key])} (running replicas apply it {when})",
            highlight=False,
        )


def _load(service: str) -> Service:
    """The service, whose settings model checks what is set."""
    try:
        return load_service(service)
    except ServiceNotFoundError as exc:
        fail(exc.args[0], INVALID)


def _name(service: str) -> str:
    """The service's name; ``module:attribute`` is loaded to find it."""
    if ":" in service:
        return _load(service).name
    if not service or any(c in service for c in "/+#$ "):
        fail(f"a service name must be a plain word, got {service!r}", INVALID)
    return service
