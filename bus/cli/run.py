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
from bus.service import Service


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
    """Run SERVICE (its handlers and its job worker) until Ctrl-C or SIGTERM."""
    service = _prepare(service_name, instance, log_level)
    run(service.run(ready_file=ready_file))


def worker_command(
    service_name: Annotated[str, typer.Argument(metavar="SERVICE", help="e.g. inspector")],
    instance: Annotated[
        str | None, typer.Option(help="Worker name; default: $BUS_INSTANCE or 1")
    ] = None,
    ready_file: Annotated[
        Path | None, typer.Option(help="Written once the worker runs, removed on exit")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING…")] = "INFO",
) -> None:
    """Run only SERVICE's job worker, to scale long work apart from event handling."""
    service = _prepare(service_name, instance, log_level)
    if not service.jobs:
        fail(f"{service.name} declares no jobs")
    run(service.run(ready_file=ready_file, consume=False, work=True))


def _prepare(service_name: str, instance: str | None, log_level: str) -> Service:
    _configure_logging(log_level)
    try:
        service = load_service(service_name)
    except ServiceNotFoundError as exc:
        fail(exc.args[0])
    if instance is not None:
        service.settings = service.settings.model_copy(update={"instance": instance})
    return service


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
