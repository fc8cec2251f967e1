"""Run every benchmark on the local stack, print a table, write bench/results.json.

The load runs on a private Mosquitto (same config, fresh data) next to the stack's Redis
and MongoDB; the ``intake`` step goes through the services ``make up`` runs, if they run.

Numbers, not thresholds: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rich.console import Console
from rich.table import Table

from bench import scenarios
from bench.backlog import backlog
from bench.catalog import catalog_cost
from bench.intake import intake
from bench.profile import per_event_path
from bus import BusSettings

RESULTS = Path(__file__).parent / "results.json"
STACK_SCRIPT = Path(__file__).resolve().parents[1] / "infra" / "stack.sh"


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--events", type=int, default=3000, help="events per throughput run")
    parser.add_argument("--rate", type=int, default=1000, help="events/s for the latency run")
    parser.add_argument("--seconds", type=int, default=30, help="length of the latency run")
    parser.add_argument("--jobs", type=int, default=1000, help="jobs for the arq run")
    parser.add_argument("--uploads", type=int, default=50, help="uploads for the intake run")
    parser.add_argument(
        "--gateway", default="http://127.0.0.1:8000", help="the gateway make up runs"
    )
    parser.add_argument(
        "--only", nargs="+", metavar="STEP", help="run these steps only (default: all)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(run(args))


async def run(args: argparse.Namespace) -> None:
    async with private_broker() as (mqtt_url, mqtts_url):
        await measure(args, mqtt_url, mqtts_url)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def private_broker() -> AsyncIterator[tuple[str, str]]:
    """A Mosquitto of the bench's own (same config as the stack's, fresh data, free
    ports): the load never reaches the services ``make up`` runs, and no earlier backlog
    in the stack's broker skews the numbers. Its plain URL and its TLS one (the stack's
    generated certificate, which names localhost)."""
    port, tls_port = _free_port(), _free_port()
    folder = Path(tempfile.mkdtemp(prefix="chorus-bench-"))
    env = dict(
        os.environ, CHORUS_STACK_DIR=str(folder), MQTT_PORT=str(port), MQTTS_PORT=str(tls_port)
    )

    def stack(*args: str) -> None:
        subprocess.run(["bash", str(STACK_SCRIPT), *args], env=env, check=True, capture_output=True)

    await asyncio.to_thread(stack, "up", "mosquitto")
    try:
        yield f"mqtt://127.0.0.1:{port}", f"mqtts://localhost:{tls_port}"
    finally:
        await asyncio.to_thread(stack, "down", "mosquitto")
        shutil.rmtree(folder, ignore_errors=True)


async def measure(args: argparse.Namespace, mqtt_url: str, mqtts_url: str) -> None:
    console = Console()
    base = BusSettings()
    parts = urlsplit(base.mongo_url)
    settings = base.model_copy(
        update={
            "mongo_url": urlunsplit(parts._replace(path="/chorus_bench")),
            "mqtt_url": mqtt_url,
            "session_expiry": 600,
            # The load generators send without the journal write, so that the consumers
            # are what is measured; "publish" measures that write's cost by itself.
            "journal_first": False,
        }
    )
    journaled = settings.model_copy(update={"journal_first": True})
    over_tls = settings.model_copy(update={"mqtt_url": mqtts_url})
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
    }
    steps: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = [
        ("consumer", lambda: scenarios.consumer_throughput(settings, args.events)),
        ("profile", lambda: per_event_path(settings, args.events)),
        ("transport", lambda: scenarios.transport_cost(settings, over_tls, args.events)),
        ("publish", lambda: scenarios.publishing(settings, min(args.events, 2000))),
        ("latency", lambda: scenarios.steady_latency(settings, args.rate, args.seconds)),
        ("replicas", lambda: scenarios.replica_scaling(settings, args.events, (1, 2, 4))),
        ("tracing", lambda: scenarios.tracing_cost(settings, args.events)),
        ("catalog", lambda: catalog_cost(settings, (0, 3000))),
        # A 100,000-event backlog on a Mosquitto of its own (python -m bench.backlog).
        ("backlog", lambda: backlog(settings, 100_000)),
        # Jobs publish their progress and outcome as services do: journal-first.
        ("jobs", lambda: scenarios.jobs(journaled, args.jobs)),
        # Through the services make up runs (their broker and databases).
        ("intake", lambda: intake(BusSettings(), args.uploads, args.gateway)),
    ]
    if args.only:
        unknown = set(args.only) - {name for name, _ in steps}
        if unknown:
            parser_error = f"unknown step(s): {', '.join(sorted(unknown))}"
            raise SystemExit(parser_error)
        steps = [(name, step) for name, step in steps if name in args.only]
    for name, step in steps:
        started = time.perf_counter()
        with console.status(f"bench: {name}…"):
            results[name] = await step()
        console.print(f"[green]✓[/] {name} in {time.perf_counter() - started:.1f}s")
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    console.print(_table(results))
    console.print(f"written to {RESULTS}")


def _table(results: dict[str, Any]) -> Table:
    table = Table(title=f"Chorus bench, {results['when']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    sections = (
        "consumer",
        "transport",
        "publish",
        "latency",
        "replicas",
        "tracing",
        "catalog",
        "backlog",
        "jobs",
        "intake",
    )
    for section in sections:
        for key, value in results.get(section, {}).items():
            table.add_row(f"{section}.{key}", str(value))
    return table


if __name__ == "__main__":
    main()
