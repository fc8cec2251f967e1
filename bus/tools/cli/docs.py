"""``bus docs``: one AsyncAPI 3 document for every service, channel and message."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bus.tools.asyncapi import build_document, write_documents
from bus.tools.cli._common import err_console, fail
from bus.tools.cli.graph import load_selected
from bus.tools.graph import SERVICES_FILE


def docs_command(
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Where the three files go")
    ] = Path("docs"),
    service: Annotated[
        list[str] | None,
        typer.Option(
            "--service",
            metavar="NAME",
            help="Services to include (repeat, or separate with commas). "
            f"Default: every one in {SERVICES_FILE}",
        ),
    ] = None,
) -> None:
    """Write asyncapi.json, asyncapi.yaml and asyncapi.html (AsyncAPI 3.0.0).

    A channel per contract topic with its message, each service's send and
    receive operations as it declares them, and every contract's JSON Schema
    inside the CloudEvents envelope it travels in. Nothing connects.
    """
    try:
        document = build_document(load_selected(service))
    except ValueError as exc:
        fail(str(exc))
    for path in write_documents(document, output_dir):
        err_console.print(f"wrote {path}", highlight=False)
