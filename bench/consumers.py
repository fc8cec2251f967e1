"""One consumer in a process of its own, driven line by line over stdin and stdout.

A process per consumer makes its CPU time its own (``time.process_time``, which counts
every thread of the process): the bus, a bare FastStream subscriber and a bare zmqtt
client are measured the same way, and so is each replica of a bus service.

The parent (:class:`ConsumerProcess`) sends one command a line; the child answers each
with one JSON line, and prints ``{"count": n}`` every 0.1 s while it consumes:

- ``prepare``: create the persistent session and its subscription, then go away, so
  that what is published next waits on the broker (a backlog);
- ``go``: connect and consume (a backlog is handed over at once);
- ``stop``: answer with the tally (events, the monotonic times and the CPU times at the
  first and the last event, latencies if asked) and exit.

Each kind acknowledges an event only after handling it, one at a time (QoS 1): the bus
through its whole pipeline (envelope and contract validation, Redis dedup claim and
record); the bare clients after ``json.loads``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import zmqtt
from faststream.mqtt import MQTTBroker
from faststream.security import SASLPlaintext

from bench.stats import latency_summary
from bus import BusSettings, Envelope, Service
from bus.security import OPS, Credential, CredentialStore
from contracts import DocumentUploaded

TOPIC = DocumentUploaded.contract.topic
KINDS = ("bus", "faststream", "zmqtt")


@dataclass(slots=True)
class Tally:
    """What one consumer saw: how many events, and when (monotonic clock, the same in
    every process on Linux) and at what CPU time the first and the last arrived."""

    latencies: list[float] | None = None
    count: int = 0
    first: float = 0.0
    last: float = 0.0
    cpu_first: float = 0.0
    cpu_last: float = 0.0
    full_collections: list[float] = field(default_factory=list)
    """Seconds each of the garbage collector's full (generation 2) collections took."""
    _collecting: float = 0.0

    def collected(self, phase: str, info: dict[str, int]) -> None:
        """A ``gc.callbacks`` entry: times the full collections."""
        if phase == "start":
            self._collecting = time.perf_counter()
        elif info["generation"] == 2:  # the oldest generation
            self.full_collections.append(time.perf_counter() - self._collecting)

    def seen(self, sent_at: float | None = None) -> None:
        now, cpu = time.monotonic(), time.process_time()
        if self.count == 0:
            self.first, self.cpu_first = now, cpu
        self.count += 1
        self.last, self.cpu_last = now, cpu
        if self.latencies is not None and sent_at is not None:
            self.latencies.append(time.time() - sent_at)

    def report(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "count": self.count, "first": self.first, "last": self.last,
            "cpu_s": self.cpu_last - self.cpu_first,
        }  # fmt: skip
        if self.latencies is not None:
            report["latency"] = latency_summary(self.latencies)
        pauses = self.full_collections
        report["gc_full"] = {
            "count": len(pauses),
            "max_ms": round(max(pauses, default=0.0) * 1000, 1),
        }
        return report


class Consumer(Protocol):
    async def prepare(self) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def _ops(settings: BusSettings) -> Credential:
    """The bare clients log in as ``ops``, as the bus's command line does."""
    credential = CredentialStore(settings.credentials_dir).identity(OPS)
    if credential is None:
        raise SystemExit(f"no {OPS} credential in {settings.credentials_dir}: run make up")
    return credential


def _sent_at(payload: bytes | str) -> float:
    return datetime.fromisoformat(json.loads(payload)["time"]).timestamp()


def raw_client(settings: BusSettings, client_id: str) -> zmqtt.MQTTClient:
    """A zmqtt client with a persistent session, unbounded queues (as the bus's)."""
    parts = urlsplit(settings.mqtt_url)
    ops = _ops(settings)
    return zmqtt.MQTTClient(
        parts.hostname or "localhost", parts.port or 1883, version="5.0",
        client_id=client_id, clean_session=False, session_expiry_interval=600,
        username=ops.username, password=ops.password,
        reconnect=zmqtt.ReconnectConfig(enabled=False),
        # A resumed session's backlog arrives before the subscription is renewed: keep
        # all of it (the bus does the same, bus/_internal/broker.py).
        session_replay_buffer_size=0,
    )  # fmt: skip


async def subscribe_once(settings: BusSettings, client_id: str, topic: str = TOPIC) -> None:
    """Leave a persistent session subscribed to ``topic`` on the broker, offline."""
    client = raw_client(settings, client_id)
    await client.connect()
    await client.subscribe(topic, qos=zmqtt.QoS.AT_LEAST_ONCE).start()
    await client.disconnect()


@dataclass
class BusConsumer:
    """A bus service handling DocumentUploaded: one replica of a shared subscription."""

    settings: BusSettings
    name: str
    tally: Tally
    service: Service = field(init=False)

    def __post_init__(self) -> None:
        self.service = Service(self.name, settings=self.settings)
        latency = self.tally.latencies is not None

        @self.service.on(DocumentUploaded)
        async def count(event: DocumentUploaded, envelope: Envelope) -> None:
            self.tally.seen(envelope.time.timestamp() if latency else None)

    async def prepare(self) -> None:
        await self.service.start()
        await self.service.stop()  # keeps the session

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()


class _UnboundedBroker(MQTTBroker):
    """FastStream with the bus's zmqtt queue setting (unbounded), so that the comparison
    is of the code on the way, not of a queue size (see bus/_internal/broker.py)."""

    async def _connect(self) -> zmqtt.MQTTClient:
        client = await super()._connect()
        client.subscribe = functools.partial(client.subscribe, receive_buffer_size=0)  # type: ignore[method-assign]
        return client


@dataclass
class FastStreamConsumer:
    """A bare serial FastStream subscriber: QoS 1, ``json.loads``, ack after.

    (FastStream decodes only ``application/json`` bodies; CloudEvents travel as
    ``application/cloudevents+json``, so the handler decodes them itself.)
    """

    settings: BusSettings
    client_id: str
    tally: Tally

    async def prepare(self) -> None:
        await subscribe_once(self.settings, self.client_id)

    async def start(self) -> None:
        ops = _ops(self.settings)
        self.broker = broker = _UnboundedBroker(
            self.settings.mqtt_url, version="5.0", log_level=logging.DEBUG,
            client_id=self.client_id, clean_session=False, session_expiry_interval=600,
            session_replay_buffer_size=0,
            security=SASLPlaintext(username=ops.username, password=ops.password),
        )  # fmt: skip
        latency = self.tally.latencies is not None

        @broker.subscriber(TOPIC, qos=zmqtt.QoS.AT_LEAST_ONCE)
        async def handle(body: bytes) -> None:
            json.loads(body)
            self.tally.seen(_sent_at(body) if latency else None)

        await broker.start()

    async def stop(self) -> None:
        await self.broker.stop()


@dataclass
class ZmqttConsumer:
    """A bare zmqtt client: QoS 1, ``json.loads``, ack after."""

    settings: BusSettings
    client_id: str
    tally: Tally

    async def prepare(self) -> None:
        await subscribe_once(self.settings, self.client_id)

    async def start(self) -> None:
        self.client = raw_client(self.settings, self.client_id)
        await self.client.connect()
        subscription = self.client.subscribe(
            TOPIC, qos=zmqtt.QoS.AT_LEAST_ONCE, auto_ack=False, receive_buffer_size=0
        )
        await subscription.start()
        latency = self.tally.latencies is not None

        async def consume() -> None:
            async for message in subscription:
                json.loads(message.payload)
                await message.ack()
                self.tally.seen(_sent_at(message.payload) if latency else None)

        self.task = asyncio.create_task(consume())

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.disconnect(), timeout=10)


def build(kind: str, settings: BusSettings, name: str, tally: Tally) -> Consumer:
    """The consumer of ``kind``; ``name`` is the bus service's name, or the bare client's
    id (its persistent session)."""
    if kind == "bus":
        return BusConsumer(settings, name, tally)
    if kind == "faststream":
        return FastStreamConsumer(settings, name, tally)
    if kind == "zmqtt":
        return ZmqttConsumer(settings, name, tally)
    raise ValueError(f"unknown consumer kind {kind!r} (expected one of {', '.join(KINDS)})")


MARK = "@bench "
"""Starts each line of the protocol: whatever else a library prints is skipped."""


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(MARK + json.dumps(message) + "\n")
    sys.stdout.flush()


async def _child(kind: str, name: str, latency: bool) -> None:
    tally = Tally(latencies=[] if latency else None)
    consumer = build(kind, BusSettings(), name, tally)
    _say({"ready": True})
    progress: asyncio.Task[None] | None = None

    async def report_progress() -> None:
        while True:
            _say({"count": tally.count})
            await asyncio.sleep(0.1)

    while True:
        command = (await asyncio.to_thread(sys.stdin.readline)).strip()
        if command == "prepare":
            await consumer.prepare()
            _say({"prepared": True})
        elif command == "go":
            await consumer.start()
            gc.collect()  # as ``bus run`` does once its service started, for every kind
            gc.freeze()
            gc.callbacks.append(tally.collected)
            progress = asyncio.create_task(report_progress())
            _say({"consuming": True})
        elif command in {"stop", ""}:  # "": the parent went away
            if progress is not None:
                progress.cancel()
                await consumer.stop()
            _say(tally.report())
            return
        else:
            _say({"error": f"unknown command {command!r}"})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.consumers", description=__doc__)
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("name", help="the bus service's name, or the bare client's id")
    parser.add_argument("--latency", action="store_true", help="record publish-to-handler")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(_child(args.kind, args.name, args.latency))


# -- the parent's side ------------------------------------------------------------------


def child_env(settings: BusSettings, **extra: str) -> dict[str, str]:
    """The environment of a consumer process: the bench's broker and stores."""
    return {
        "BUS_MQTT_URL": settings.mqtt_url, "BUS_REDIS_URL": settings.redis_url,
        "BUS_MONGO_URL": settings.mongo_url, "BUS_SESSION_EXPIRY": "600",
        "BUS_JOURNAL_FIRST": "false", "BUS_INSTANCE": "0", **extra,
    }  # fmt: skip


class ConsumerProcess:
    """A consumer child process and its latest count."""

    def __init__(self, process: asyncio.subprocess.Process, errors: Path) -> None:
        self.process = process
        self.errors = errors
        self.count = 0
        self._replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def spawn(
        cls, kind: str, name: str, env: dict[str, str], *, latency: bool = False
    ) -> ConsumerProcess:
        """Start a child and wait until it has imported everything."""
        stderr, errors = tempfile.mkstemp(prefix="chorus-bench-consumer-", suffix=".log")
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.consumers", kind, name,
                *(["--latency"] if latency else []),
                env={**os.environ, **env}, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=stderr, limit=2**24,
            )  # fmt: skip
        finally:
            os.close(stderr)
        child = cls(process, Path(errors))
        try:
            await child._reply(within=120)
        except BaseException:
            child.kill()
            raise
        return child

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            text = line.decode(errors="replace")
            if not text.startswith(MARK):
                continue
            message = json.loads(text[len(MARK) :])
            if set(message) == {"count"}:
                self.count = message["count"]
            else:
                await self._replies.put(message)
        await self._replies.put({"error": f"the child exited ({self.process.returncode})"})

    async def _reply(self, within: float) -> dict[str, Any]:
        reply = await asyncio.wait_for(self._replies.get(), timeout=within)
        if "error" in reply:
            said = self.errors.read_text(errors="replace").strip()[-2000:]
            raise RuntimeError(f"consumer process: {reply['error']}: {said}")
        return reply

    async def command(self, command: str, within: float = 120) -> dict[str, Any]:
        """Send ``command``; its answer."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()
        return await self._reply(within)

    async def stop(self) -> dict[str, Any]:
        """Stop consuming; the tally. The process exits."""
        try:
            return await self.command("stop")
        finally:
            with contextlib.suppress(ProcessLookupError):
                await asyncio.wait_for(self.process.wait(), timeout=30)
            self._reader.cancel()

    def kill(self) -> None:
        """End the process if it still runs, and forget what it printed."""
        if self.process.returncode is None:
            self.process.kill()
        self.errors.unlink(missing_ok=True)


async def wait_for(check: Callable[[], bool | Awaitable[bool]], within: float) -> bool:
    """Poll ``check`` every 20 ms until it holds or ``within`` seconds passed; whether it held."""
    deadline = time.monotonic() + within
    while True:
        held = check()
        if not isinstance(held, bool):
            held = await held
        if held:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)


if __name__ == "__main__":
    main()
