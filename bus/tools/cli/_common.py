"""What every command shares: the consoles, failing clearly, async entry."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console

from bus._internal.mqtt import MQTT_ERRORS
from bus.settings import BusSettings
from bus.tracing import configure_tracing

if TYPE_CHECKING:
    from bus.service import Service

T = TypeVar("T")

# Piped output is not cut at 80 columns: tables stay whole in logs and files.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

CONNECT_TIMEOUT = 10.0


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line reason to stderr and exit non-zero."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def traced(service: Service | str, settings: BusSettings | None = None) -> Iterator[None]:
    """Export this command's spans as ``BUS_TRACING`` says, flushing them at the end."""
    if isinstance(service, str):
        name, settings = service, settings or BusSettings()
        instance, version = f"{socket.gethostname()}-{os.getpid()}", None
    else:
        name, settings = service.name, service.settings
        instance, version = service.settings.instance, service.version
    tracer = configure_tracing(settings.tracing, service=name, instance=instance, version=version)
    try:
        yield
    finally:
        if tracer is not None:
            tracer.shutdown()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a lost connection becomes a clear error."""
    try:
        return asyncio.run(coro)
    except TimeoutError:
        fail("timed out reaching a server of the stack (is it running? try 'make up')")
    except MQTT_ERRORS as exc:
        fail(f"cannot reach a server of the stack: {exc} (is it running? try 'make up')")


M = TypeVar("M", bound=BaseModel)


def parse_data(data: str, model: type[M], name: str) -> M:
    """The DATA argument (JSON, or ``@file`` holding JSON) as ``model``; a clear error and
    exit 1 otherwise (``name``: what the data should match, in the message)."""
    text = data
    if data.startswith("@"):
        path = Path(data[1:])
        try:
            text = path.read_text()
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror or exc}")
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"DATA is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    try:
        return model.model_validate(loaded)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}" for e in exc.errors()
        )
        fail(f"data does not match {name}: {problems}")
