"""Measure the bus and the reference system on the local stack: a table of every measure
beside the previous run's, the goals (met or not), all written to bench/results.json.

The bus's load runs on a private Mosquitto (same configuration, fresh data) next to the
stack's Redis and MongoDB (database ``chorus_bench``, dropped before and after); the
``backlog`` step starts a Mosquitto of its own; ``gateway`` and ``intake`` go through the
services ``make up`` runs, with catalog documents and journal entries preloaded into their
database and deleted afterwards (bench/preload.py).

Numbers, not thresholds: nothing here fails on a slow machine; a goal not met says NO.
``python -m bench --markdown`` prints the README's tables from bench/results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pymongo import AsyncMongoClient
from rich.console import Console
from rich.table import Table

from bench import scenarios, stats
from bench.backlog import backlog
from bench.catalog import catalog_cost
from bench.intake import gateway_answers, gateway_reads, upload_to_ready
from bench.preload import Loaded, preloaded
from bench.profile import per_event_path
from bus import BusSettings

RESULTS = Path(__file__).parent / "results.json"
QUICK_RESULTS = Path(tempfile.gettempdir()) / "chorus-bench-quick.json"
STACK_SCRIPT = Path(__file__).resolve().parents[1] / "infra" / "stack.sh"
BENCH_DATABASE = "chorus_bench"


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much each step does: the full bench, or ``--quick`` (a smoke test)."""

    events: int  # per consumer, per mode
    publish: int
    rates: tuple[int, ...]
    latency_seconds: int
    replica_events: int
    backlog_events: int
    backlog_within: float  # seconds per phase, at most
    documents: int  # catalog documents preloaded
    journal: int  # journal entries preloaded
    http_seconds: float
    http_clients: int
    http_rate: int  # requests/s offered in the gateway's paced run
    uploads: int
    profile: int
    transport: int
    transport_rounds: int
    clean_within: float  # seconds to delete what was preloaded, at most
    intake_within: float  # seconds of uploads, at most
    catalog: tuple[int, ...]
    jobs: int


FULL = Sizes(
    events=5000, publish=2000, rates=(500, 1000), latency_seconds=60, replica_events=10_000,
    backlog_events=100_000, backlog_within=150, documents=10_000, journal=100_000,
    http_seconds=20, http_clients=20, http_rate=500, uploads=50, profile=3000, transport=1000,
    transport_rounds=2, clean_within=240, intake_within=240,
    catalog=(0, 3000), jobs=1000,
)  # fmt: skip
QUICK = Sizes(
    events=1000, publish=500, rates=(500, 1000), latency_seconds=10, replica_events=2000,
    backlog_events=10_000, backlog_within=60, documents=1000, journal=10_000,
    http_seconds=5, http_clients=20, http_rate=500, uploads=5, profile=500, transport=500,
    transport_rounds=1, clean_within=60, intake_within=60,
    catalog=(0, 300), jobs=200,
)  # fmt: skip

STEPS: dict[str, str] = {
    "consumer": "bus / FastStream / zmqtt consumers: a backlog and a live rate, CPU per event",
    "publish": "one publisher, journal-first and plain",
    "latency": "latency at 500 and 1,000 events/s offered, lost events",
    "replicas": "1 / 2 / 4 bus replicas draining a backlog, CPU per event",
    "backlog": "a 100,000-event backlog on a Mosquitto of its own, drained by the bus",
    "gateway": "GET /documents/{id} (vegeta): the most 20 clients get, then 500/s paced",
    "intake": "upload to ready through make up's services, documents and journal preloaded",
    "profile": "microseconds per step of one event's path",
    "transport": "the bus consumer over TLS and plain TCP",
    "tracing": "one bus run replica, tracing off and on",
    "catalog": "the catalog's cost per applied event as its log grows",
    "jobs": "arq enqueue and worker rates",
}
BROKER_STEPS = {"consumer", "publish", "latency", "replicas", "transport", "tracing", "jobs"}
LOADED_STEPS = {"gateway", "intake"}


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="steps: " + "; ".join(f"{name}: {what}" for name, what in STEPS.items()),
    )
    parser.add_argument(
        "--only", metavar="STEP[,STEP…]", help="run these steps only (default: all)"
    )
    parser.add_argument(
        "--quick", action="store_true",
        help=f"smaller counts, a smoke test (~3 min); written to {QUICK_RESULTS}",
    )  # fmt: skip
    parser.add_argument(
        "--markdown", action="store_true", help="print the README's tables from the results"
    )
    parser.add_argument("--output", type=Path, help=f"results file (default: {RESULTS})")
    parser.add_argument(
        "--gateway", default="http://127.0.0.1:8000", help="the gateway make up runs"
    )
    args = parser.parse_args(argv)
    args.steps = _steps(parser, args.only)
    if args.output is None:
        args.output = QUICK_RESULTS if args.quick else RESULTS
    return args


def _steps(parser: argparse.ArgumentParser, only: str | None) -> list[str]:
    if not only:
        return list(STEPS)
    wanted = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in STEPS]
    if unknown or not wanted:
        parser.error(
            f"unknown step(s): {', '.join(unknown) or '(none given)'}; known: {', '.join(STEPS)}"
        )
    return [name for name in STEPS if name in wanted]


def main(argv: list[str] | None = None) -> None:
    """``python -m bench``: run the steps, or print the README's tables (``--markdown``)."""
    args = _parse(argv)
    if args.markdown:
        if not args.output.is_file():
            raise SystemExit(f"no results at {args.output}: run make bench first")
        print(stats.markdown(json.loads(args.output.read_text())), end="")
        return
    logging.basicConfig(level=logging.ERROR)
    gc.freeze()  # this process publishes in some steps: its imports out of full collections
    asyncio.run(_until_signalled(run(args)))


async def _until_signalled(work: Awaitable[None]) -> None:
    """``work``, cancelled on SIGTERM as on Ctrl-C: what it started is cleaned up (the
    private brokers, the consumer processes, the preloaded documents)."""
    task = asyncio.ensure_future(work)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await task


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


async def _drop_bench_database(settings: BusSettings) -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongo_url)
    try:
        await client.drop_database(BENCH_DATABASE)
    finally:
        await client.close()


async def run(args: argparse.Namespace) -> None:
    """Run the chosen steps, then write and print the results."""
    console = Console()
    sizes = QUICK if args.quick else FULL
    previous = stats.as_run(_load(args.output))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    steps: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        base = BusSettings()
        own_database = urlsplit(base.mongo_url)._replace(path=f"/{BENCH_DATABASE}")
        bench = base.model_copy(
            update={
                "mongo_url": urlunsplit(own_database),
                "session_expiry": 600,
                # The load generators send without the journal write, so that the consumers
                # are what is measured; "publish" measures that write's cost by itself.
                "journal_first": False,
            }
        )  # fmt: skip
        if BROKER_STEPS & set(args.steps):
            await _drop_bench_database(bench)
            mqtt_url, mqtts_url = await stack.enter_async_context(private_broker())
            bench = bench.model_copy(update={"mqtt_url": mqtt_url})
            stack.push_async_callback(_drop_bench_database, bench)
        else:
            mqtts_url = ""
        loaded: list[Loaded | str] = []
        # The preload is taken out as soon as the last step that needs it is done.
        preload_stack = await stack.enter_async_context(contextlib.AsyncExitStack())
        last_loaded = max(
            (args.steps.index(n) for n in LOADED_STEPS if n in args.steps), default=-1
        )
        with console.status("bench…") as status:

            async def load() -> Loaded | str:
                """The preloaded stack, once for the steps that need it; or why not."""
                if not loaded:
                    reason = await gateway_answers(args.gateway)
                    if reason is not None:
                        loaded.append(reason)
                    else:
                        preload = preloaded(
                            base, sizes.documents, sizes.journal, max_documents=sizes.uploads,
                            clean_within=sizes.clean_within,
                            progress=lambda m: status.update(f"bench: preload: {m}"),
                        )  # fmt: skip
                        loaded.append(await preload_stack.enter_async_context(preload))
                return loaded[0]

            plan = _plan(args, sizes, bench, mqtts_url, load)
            for index, name in enumerate(args.steps):
                status.update(f"bench: {name}…")
                began = time.perf_counter()
                try:
                    steps[name] = {**await plan[name](), "when": started}
                except Exception as exc:
                    steps[name] = {"error": f"{type(exc).__name__}: {exc}", "when": started}
                    console.print(f"[red]✗ {name}: {steps[name]['error']}[/]")
                else:
                    console.print(f"[green]✓[/] {name} in {time.perf_counter() - began:.0f} s")
                if index == last_loaded:
                    await preload_stack.aclose()
                    _report_cleanup(console, loaded, steps[name])
            status.update("bench: cleaning up…")
    _finish(args, console, started, steps, previous)


def _finish(
    args: argparse.Namespace,
    console: Console,
    started: str,
    steps: dict[str, Any],
    previous: dict[str, Any],
) -> None:
    """Evaluate the goals, write the results, print the tables."""
    results: dict[str, Any] = {
        "when": started,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "mode": "quick" if args.quick else "full",
        "steps": stats.merge_steps(steps, previous),
    }
    results["goals"] = stats.evaluate(results)
    results["previous"] = previous
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    console.print(_measures_table(results))
    console.print(_goals_table(results))
    console.print(f"written to {args.output}; the README's tables: python -m bench --markdown")


def _plan(
    args: argparse.Namespace,
    sizes: Sizes,
    bench: BusSettings,
    mqtts_url: str,
    load: Callable[[], Awaitable[Loaded | str]],
) -> dict[str, Callable[[], Awaitable[dict[str, Any]]]]:
    """Each step, ready to run."""
    journaled = bench.model_copy(update={"journal_first": True})
    over_tls = bench.model_copy(update={"mqtt_url": mqtts_url})

    async def gateway() -> dict[str, Any]:
        stack = await load()
        if isinstance(stack, str):
            return {"skipped": stack}
        reads = await gateway_reads(
            args.gateway, stack.api_key, stack.documents,
            clients=sizes.http_clients, seconds=sizes.http_seconds, rate=sizes.http_rate,
        )  # fmt: skip
        return {**reads, "preloaded": stack.summary()}

    async def intake() -> dict[str, Any]:
        stack = await load()
        if isinstance(stack, str):
            return {"skipped": stack}
        uploads = await upload_to_ready(
            args.gateway, stack.api_key, sizes.uploads, within=sizes.intake_within
        )
        return {**uploads, "preloaded": stack.summary()}

    return {
        "consumer": lambda: scenarios.consumer_throughput(bench, sizes.events),
        "publish": lambda: scenarios.publishing(bench, sizes.publish),
        "latency": lambda: scenarios.steady_latency(bench, sizes.rates, sizes.latency_seconds),
        "replicas": lambda: scenarios.replica_scaling(bench, sizes.replica_events, (1, 2, 4)),
        "backlog": lambda: backlog(bench, sizes.backlog_events, within=sizes.backlog_within),
        "gateway": gateway,
        "intake": intake,
        "profile": lambda: per_event_path(bench, sizes.profile),
        "transport": lambda: scenarios.transport_cost(
            bench, over_tls, sizes.transport, rounds=sizes.transport_rounds
        ),
        "tracing": lambda: scenarios.tracing_cost(bench, sizes.transport),
        "catalog": lambda: catalog_cost(bench, sizes.catalog),
        # Jobs publish their progress and outcome as services do: journal-first.
        "jobs": lambda: scenarios.jobs(journaled, sizes.jobs),
    }


def _report_cleanup(console: Console, loaded: list[Loaded | str], step: dict[str, Any]) -> None:
    if not loaded or isinstance(loaded[0], str):
        return
    stack = loaded[0]
    step["preload_cleanup"] = {
        "seconds": round(stack.cleanup_seconds, 1), "left_behind": stack.left_behind,
        "not_vacuumed": stack.not_vacuumed,
    }  # fmt: skip
    if stack.not_vacuumed:
        console.print(f"[yellow]not vacuumed after the cleanup: {stack.not_vacuumed}[/]")
    if stack.left_behind:
        console.print(
            f"[yellow]preloaded records left behind ({', '.join(stack.left_behind)}): "
            "python -m bench.preload --clean deletes them[/]"
        )


def _load(path: Path) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return loaded


def _measures_table(results: dict[str, Any]) -> Table:
    previous = stats.flatten(results.get("previous", {}).get("steps", {}))
    table = Table(title=f"Chorus bench, {results['when']} ({results['mode']})")
    table.add_column("measure", overflow="fold")
    table.add_column("this run", justify="right", overflow="fold")
    table.add_column("previous", justify="right", style="dim")
    for key, value in stats.flatten(results["steps"]).items():
        if key.endswith(".when") and value == results["when"]:
            continue
        table.add_row(key, _cell(value), _cell(previous.get(key)))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and any(isinstance(item, str) for item in value):
        return f"{len(value)}: {str(value[0])[:80]}…"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _goals_table(results: dict[str, Any]) -> Table:
    previous = results.get("previous", {})
    table = Table(title="Goals (issue 12)")
    for column in ("goal", "target", "measured", "met", "previous"):
        table.add_column(column)
    colour = {True: "green", False: "red", None: "dim"}
    for row in results["goals"]:
        mark = f"[{colour[row['met']]}]{stats.met_mark(row['met'])}[/]"
        before = stats.previous_goal(previous, row["goal"])
        table.add_row(row["goal"], row["target"], row["measured"], mark, before)
    return table


if __name__ == "__main__":
    main()
