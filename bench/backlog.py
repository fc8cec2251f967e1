"""A backlog of queued QoS 1 events: how fast Mosquitto takes it and hands it back.

An offline persistent consumer session (subscribed once, then gone)
collects ``events`` events published at QoS 1 without the journal write (eight concurrent
``Publisher``s, as the other steps publish); the client then comes back and drains them,
acknowledging each. The bench step drains with a bus consumer (bench/consumers.py, in a
process of its own), ``--compare`` with a bare zmqtt client (the broker's share alone).
Reported: publish events/s, drain events/s (first event handled to last), and the largest
``mosquitto.db`` seen. Each candidate persistence setting runs on a Mosquitto of its own
(the stack's configuration with only the autosave lines replaced, fresh data, a free port),
and each phase is bounded in time: a run that hits the bound reports how far it got.

``python -m bench --only backlog`` measures the configuration in
infra/mosquitto/mosquitto.conf; ``python -m bench.backlog --compare`` the candidates.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.consumers import ConsumerProcess, child_env, wait_for
from bus import BusSettings, Publisher
from tests.helpers import uploaded

STACK_SCRIPT = Path(__file__).resolve().parents[1] / "infra" / "stack.sh"
TOPIC = "documents/uploaded/v1"
AUTOSAVE = re.compile(r"^\s*autosave_(on_changes|interval)\b.*$", re.MULTILINE)

# Candidate autosave lines (None: infra/mosquitto/mosquitto.conf as it is).
CANDIDATES: dict[str, str | None] = {
    "on_changes 1": "autosave_on_changes true\nautosave_interval 1",
    "on_changes 1000": "autosave_on_changes true\nautosave_interval 1000",
    "every 1 s": "autosave_on_changes false\nautosave_interval 1",
    "every 5 s": "autosave_on_changes false\nautosave_interval 5",
    "every 30 s": "autosave_on_changes false\nautosave_interval 30",
}


@dataclass(frozen=True, slots=True)
class Broker:
    url: str
    database: Path
    pid: int


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def broker_with(autosave: str | None) -> AsyncIterator[Broker]:
    """A private Mosquitto whose configuration is the stack's, the autosave lines
    replaced by ``autosave`` (unless None). infra/stack.sh writes the configuration and
    the login file (and starts and stops the broker once); this one runs it."""
    port = _free_port()
    folder = Path(tempfile.mkdtemp(prefix="chorus-backlog-"))
    env = dict(os.environ, CHORUS_STACK_DIR=str(folder), MQTT_PORT=str(port), MQTTS_PORT="0")

    def stack(*args: str) -> None:
        subprocess.run(
            ["bash", str(STACK_SCRIPT), *args], env=env, check=True, capture_output=True,
            timeout=120,
        )  # fmt: skip

    await asyncio.to_thread(stack, "up", "mosquitto")
    await asyncio.to_thread(stack, "down", "mosquitto")
    conf = folder / "run" / "mosquitto.conf"
    if autosave is not None:
        conf.write_text(AUTOSAVE.sub("", conf.read_text()) + f"\n{autosave}\n")
    process = await asyncio.create_subprocess_exec(
        "mosquitto", "-c", str(conf),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await _listening(port, within=30)
        database = folder / "data" / "mosquitto" / "mosquitto.db"
        yield Broker(f"mqtt://127.0.0.1:{port}", database, process.pid)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=60)
            except TimeoutError:
                process.kill()
                await process.wait()
        shutil.rmtree(folder, ignore_errors=True)


async def _listening(port: int, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
        else:
            writer.close()
            await writer.wait_closed()
            return


async def _publish(settings: BusSettings, count: int, within: float, tasks: int = 8) -> int:
    """Publish up to ``count`` events from ``tasks`` publishers for at most ``within``
    seconds; returns how many the broker acknowledged."""
    deadline = time.monotonic() + within
    sent = 0

    async def one(k: int) -> None:
        nonlocal sent
        async with Publisher(settings=settings) as publisher:
            for n in range(count // tasks + (k < count % tasks)):
                if time.monotonic() > deadline:
                    return
                await publisher.publish(uploaded(k * count + n))
                sent += 1

    await asyncio.gather(*(one(k) for k in range(tasks)))
    return sent


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


async def _largest(path: Path, largest: list[int]) -> None:
    while True:
        largest[0] = max(largest[0], _size(path))
        await asyncio.sleep(0.25)


async def measure(
    settings: BusSettings, broker: Broker, events: int, *, within: float, kind: str = "bus"
) -> dict[str, Any]:
    """One backlog of ``events`` on ``broker``, drained by a consumer of ``kind`` in a
    process of its own: publish and drain rates, database size."""
    settings = settings.model_copy(update={"mqtt_url": broker.url, "journal_first": False})
    name = f"bench-backlog-{uuid.uuid4().hex[:8]}"
    env = child_env(settings)
    child = await ConsumerProcess.spawn(kind, name, env)
    largest = [0]
    watcher = asyncio.create_task(_largest(broker.database, largest))
    try:
        # The consumer's session: subscribed once, then offline.
        await child.command("prepare")
        start = time.perf_counter()
        published = await _publish(settings, events, within)
        publish_s = time.perf_counter() - start
        # The whole backlog on disk (SIGUSR1: save now), whatever the autosave period.
        os.kill(broker.pid, signal.SIGUSR1)
        await asyncio.sleep(2)
        await child.command("go")
        await wait_for(lambda: child.count >= published, within=within)
        tally = await child.stop()
    finally:
        watcher.cancel()
        child.kill()
    drained = tally["count"]
    seconds = tally["last"] - tally["first"]
    return {
        "events": events,
        "consumer": kind,
        "published": published,
        "publish_per_s": round(published / publish_s, 1),
        "drained": drained,
        "drain_per_s": round((drained - 1) / seconds, 1) if seconds > 0 else None,
        "cpu_s_per_1000": round(1000 * tally["cpu_s"] / max(drained - 1, 1), 4),
        "db_mb": round(largest[0] / 1e6, 1),
    }


async def backlog(
    settings: BusSettings,
    events: int,
    *,
    autosave: str | None = None,
    within: float = 300,
    kind: str = "bus",
) -> dict[str, Any]:
    """The bench step: a backlog on a Mosquitto with the stack's configuration (or with
    ``autosave`` for its autosave lines), drained by a consumer of ``kind``."""
    async with broker_with(autosave) as broker:
        return await measure(settings, broker, events, within=within, kind=kind)


async def compare(settings: BusSettings, events: int, within: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, autosave in CANDIDATES.items():
        results[name] = await backlog(
            settings, events, autosave=autosave, within=within, kind="zmqtt"
        )
        print(name, results[name], flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.backlog", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--within", type=float, default=120, help="seconds per phase, at most")
    parser.add_argument("--compare", action="store_true", help="every candidate setting")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    settings = BusSettings()
    if args.compare:
        print(json.dumps(asyncio.run(compare(settings, args.events, args.within)), indent=2))
    else:
        print(json.dumps(asyncio.run(backlog(settings, args.events, within=args.within))))


if __name__ == "__main__":
    main()
