"""``bus new``: scaffold a service that follows the project's shape, with its tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.tree import Tree

from bus.tools.cli._common import console, fail
from bus.tools.scaffold import SERVICES_FILE, ConsumerPlan, ScaffoldError, find_root, plan_consumer

USAGE_ERROR = 2
"""The exit code of a request that cannot be carried out (as click's own usage errors)."""

app = typer.Typer(help="Scaffold new code that passes the project's checks as written.")


@app.callback()
def new() -> None:
    """Scaffold new code that passes the project's checks as written."""


@app.command("consumer")
def consumer_command(
    name: Annotated[
        str,
        typer.Argument(metavar="NAME", help="The service's name, a lower-case identifier"),
    ],
    on: Annotated[
        list[str],
        typer.Option(
            "--on",
            metavar="EVENT",
            help="An event it consumes: type (documents.uploaded.v1), class (DocumentUploaded) "
            "or topic (documents/uploaded/v1); repeat for more",
        ),
    ],
    register: Annotated[
        bool,
        typer.Option(
            "--register/--no-register",
            help=f"Add NAME to {SERVICES_FILE}, so that 'make up' runs it",
        ),
    ] = True,
    root: Annotated[
        Path | None,
        typer.Option(
            help="The repository (default: the nearest folder above with a pyproject.toml)",
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Create a consumer service and its tests.

    services/NAME gets one handler per --on event, each calling a plain function of
    logic.py (testable without the bus); tests/unit/test_NAME.py runs them in memory,
    tests/integration/test_NAME.py on the real stack. Everything is checked first and
    written at once: on an error nothing is written (exit 2).
    """
    try:
        plan = plan_consumer(root or find_root(), name, on, register=register)
        plan.write()
    except ScaffoldError as exc:
        fail(str(exc), USAGE_ERROR)
    _report(plan)


def _report(plan: ConsumerPlan) -> None:
    consumes = ", ".join(e.contract.type for e in plan.events)
    tree = Tree(f"[bold green]created[/] consumer [bold]{plan.name}[/] (consumes {consumes})")
    for path in plan.files:
        tree.add(escape(str(path)))
    if plan.services_file is not None:
        tree.add(f"{SERVICES_FILE} [dim](+ {plan.name})[/]")
    console.print(tree, highlight=False)
    console.print("\n[bold]Next:[/]", highlight=False)
    steps = [
        (f"$EDITOR services/{plan.name}/logic.py", "your logic: one handle_* per event"),
        (f".venv/bin/pytest -q tests/unit/test_{plan.name}.py", "passes as generated"),
        (f".venv/bin/pytest -q tests/integration/test_{plan.name}.py", "the same, on the stack"),
        (f".venv/bin/bus run {plan.name}", "runs it in the foreground (Ctrl-C stops it)"),
    ]
    if plan.registered:
        steps.append(("make up", f"runs {plan.name} in the background with the others"))
        steps.append((".venv/bin/bus graph", f"shows where {plan.name} sits in the choreography"))
    else:
        steps.append((f"echo {plan.name} >> {SERVICES_FILE}", "so that make up runs it"))
    width = max(len(command) for command, _ in steps)
    for command, why in steps:
        console.print(f"  {escape(command).ljust(width)}  [dim]# {escape(why)}[/]", highlight=False)
