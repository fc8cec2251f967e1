"""What every command shares: the consoles, failing clearly, async entry."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import typer
import zmqtt
from rich.console import Console

T = TypeVar("T")

# Piped output is not cut at 80 columns: tables stay whole in logs and files.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

CONNECT_TIMEOUT = 10.0


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line reason to stderr and exit non-zero."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a lost connection becomes a clear error."""
    try:
        return asyncio.run(coro)
    except TimeoutError:
        fail("timed out reaching a server of the stack (is it running? try 'make up')")
    except (OSError, zmqtt.MQTTError) as exc:
        fail(f"cannot reach a server of the stack: {exc} (is it running? try 'make up')")
