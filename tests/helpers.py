"""Small tools the tests share."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from prometheus_client import Counter
from typer.testing import CliRunner, Result

from bus import BusSettings
from bus.metrics import EVENTS, JOBS, JOBS_ENQUEUED
from bus.security import OPS, Credential, CredentialStore
from bus.tools.cli import app
from contracts import DocumentUploaded


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], *, within: float = 20.0, what: str = "condition"
) -> None:
    """Wait until ``check()`` holds; fail the test with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


def uploaded(n: int = 0, owner: str = "alice") -> DocumentUploaded:
    """A valid DocumentUploaded, distinct per ``n``."""
    return DocumentUploaded(
        document_id=uuid.uuid4(),
        owner=owner,
        filename=f"file-{n}.txt",
        size_bytes=100 + n,
        content_type="text/plain",
        storage_url=f"file:///tmp/chorus/{n}.txt",
    )


def bus(*args: str, env: Mapping[str, str | None] | None = None) -> Result:
    """``bus ARGS`` in this process, through typer's ``CliRunner``: ``exit_code``, and
    ``stdout`` and ``stderr`` apart. ``env`` is laid over the environment for the call
    (``None`` removes a variable). An exception the command does not turn into an exit code
    fails the test with its traceback.

    A command calls ``asyncio.run``: from an async test, run this in a thread
    (``asyncio.to_thread``), and only for commands that do not open MongoDB, whose
    client Beanie binds process-wide to the event loop the test's services run in.
    """
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def counted(metric: Counter, **labels: str) -> float:
    """What ``metric`` counted in this process, summed over the samples with ``labels``."""
    return sum(
        sample.value
        for family in metric.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
        and all(sample.labels.get(key) == value for key, value in labels.items())
    )


def settled(service: str, **labels: str) -> float:
    """Deliveries to ``service`` (in this process) that reached their final outcome,
    handled, duplicate or dead-lettered: the pipeline counts each once it is done with
    it, just before the acknowledgement."""
    return counted(EVENTS, service=service, **labels)


def jobs_finished(service: str) -> bool:
    """Whether every job ``service`` queued (from this process) ended: succeeded, failed
    for good or skipped as already done, nothing queued or retrying."""
    final = ("succeeded", "failed", "skipped")
    ended = sum(counted(JOBS, service=service, outcome=outcome) for outcome in final)
    return ended >= counted(JOBS_ENQUEUED, service=service, outcome="queued")


def ops_login(settings: BusSettings) -> Credential:
    """The ``ops`` login, for a client outside the bus (aiomqtt): the broker takes no
    anonymous client."""
    ops = CredentialStore(settings.credentials_dir).identity(OPS)
    assert ops is not None, f"no ops credential in {settings.credentials_dir}"
    return ops


async def processes_under(folder: Path) -> list[tuple[int, str]]:
    """``(pid, command line)`` of every process whose command line names ``folder``
    (``-ww``: whole command lines, even when COLUMNS is set, as under pytest)."""
    ps = await asyncio.create_subprocess_exec(
        "ps", "-ww", "-eo", "pid=,args=", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await ps.communicate()
    found = []
    for line in out.decode().splitlines():
        pid, _, args = line.strip().partition(" ")
        if str(folder) in args:
            found.append((int(pid), args))
    return found
