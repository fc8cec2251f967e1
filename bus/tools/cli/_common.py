"""What every command shares: the consoles, failing clearly, async entry."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
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
