"""``bus run``: one service in the foreground."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler

from bus.cli._common import fail, run
from bus.loader import ServiceNotFoundError, load_service


def run_command(
    service_name: Annotated[str, typer.Argument(metavar="SERVICE", help="e.g. journal")],
    instance: Annotated[
        str | None, typer.Option(help="Replica name; default: $BUS_INSTANCE or 1")
    ] = None,
    ready_file: Annotated[
        Path | None, typer.Option(help="Written once the service consumes, removed on exit")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING…")] = "INFO",
) -> None:
    """Run SERVICE until Ctrl-C (or SIGTERM), then stop cleanly."""
    _configure_logging(log_level)
    try:
        service = load_service(service_name)
    except ServiceNotFoundError as exc:
        fail(exc.args[0])
    if instance is not None:
        service.settings = service.settings.model_copy(update={"instance": instance})
    run(service.run(ready_file=ready_file))


def _configure_logging(level: str) -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        fail(f"unknown log level {level!r}")
    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(show_path=False)
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=numeric, handlers=[handler], force=True)
