"""``bus run``: one service in the foreground."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bus.loader import ServiceNotFoundError, load_service
from bus.logs import configure_logging, set_identity
from bus.ops import serve_ops
from bus.service import Service
from bus.tools.cli._common import fail, run, traced


class LogFormat(StrEnum):
    AUTO = "auto"
    JSON = "json"
    TEXT = "text"


# The options ``bus run`` and ``bus worker`` share.
LogLevel = Annotated[str, typer.Option(help="DEBUG, INFO, WARNING…")]
LogFormatOption = Annotated[LogFormat, typer.Option(help="auto: JSON unless on a terminal")]
OpsPort = Annotated[
    int | None,
    typer.Option(
        min=0,
        max=65535,
        envvar="BUS_OPS_PORT",
        help="Serve /healthz, /readyz, /metrics on 127.0.0.1 here (0: a free port); the "
        "presence says where",
    ),
]


def run_command(  # noqa: PLR0917 - typer turns each parameter into an option
    service_name: Annotated[str, typer.Argument(metavar="SERVICE", help="e.g. journal")],
    instance: Annotated[
        str | None, typer.Option(help="Replica name; default: $BUS_INSTANCE or 1")
    ] = None,
    ready_file: Annotated[
        Path | None, typer.Option(help="Written once the service consumes, removed on exit")
    ] = None,
    log_level: LogLevel = "INFO",
    log_format: LogFormatOption = LogFormat.AUTO,
    ops_port: OpsPort = None,
) -> None:
    """Run SERVICE (its handlers and its job worker) until Ctrl-C or SIGTERM."""
    service = _prepare(service_name, instance, log_level, log_format, ops_port)
    with traced(service):
        run(_serve(service, ready_file=ready_file))


def worker_command(  # noqa: PLR0917 - typer turns each parameter into an option
    service_name: Annotated[str, typer.Argument(metavar="SERVICE", help="e.g. inspector")],
    instance: Annotated[
        str | None, typer.Option(help="Worker name; default: $BUS_INSTANCE or 1")
    ] = None,
    ready_file: Annotated[
        Path | None, typer.Option(help="Written once the worker runs, removed on exit")
    ] = None,
    log_level: LogLevel = "INFO",
    log_format: LogFormatOption = LogFormat.AUTO,
    ops_port: OpsPort = None,
) -> None:
    """Run only SERVICE's job worker, to scale long work apart from event handling."""
    service = _prepare(service_name, instance, log_level, log_format, ops_port)
    if not service.jobs:
        fail(f"{service.name} declares no jobs")
    with traced(service):
        run(_serve(service, ready_file=ready_file, consume=False))


def _prepare(
    service_name: str,
    instance: str | None,
    log_level: str,
    log_format: LogFormat,
    ops_port: int | None,
) -> Service:
    numeric = logging.getLevelName(log_level.upper())
    if not isinstance(numeric, int):
        fail(f"unknown log level {log_level!r}")
    json_lines = {LogFormat.AUTO: None, LogFormat.JSON: True, LogFormat.TEXT: False}[log_format]
    configure_logging(numeric, json_lines=json_lines)
    try:
        service = load_service(service_name)
    except ServiceNotFoundError as exc:
        fail(exc.args[0])
    if instance is not None:
        service.settings = service.settings.model_copy(update={"instance": instance})
    set_identity(service=service.name, instance=service.settings.instance)
    if ops_port is not None:
        serve_ops(service, ops_port)
    return service


async def _serve(service: Service, *, ready_file: Path | None, consume: bool = True) -> None:
    """Run ``service`` until SIGINT or SIGTERM, then stop it cleanly; ``ready_file`` is
    written once it runs (``infra/services.sh`` waits for it) and removed on exit."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await service.start(consume=consume, work=True)
    # What is alive now (modules, schemas, connections) lives as long as the process: out
    # of the collector's sight, a full collection no longer walks it. Measured on a bus
    # consumer: 40 to 70 ms pauses every few seconds, 2 to 5 ms after. Collected first, so
    # no garbage of the start is kept for good.
    gc.collect()
    gc.freeze()
    try:
        if ready_file is not None:
            _mark_ready(ready_file, service.client_id)
        await stopping.wait()
    finally:
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)  # noqa: ASYNC240 - one tiny local file
        await service.stop()


def _mark_ready(path: Path, client_id: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{client_id}\n")
