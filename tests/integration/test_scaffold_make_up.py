"""``make up`` runs a consumer that ``bus new consumer`` just wrote, and it gets its events;
it also runs the web console, which ``make status`` shows, and gives every replica an ops
endpoint that its presence names.

In a copy of the repository (the working tree is never touched): scaffold a consumer, which
appends it to ``infra/services.txt``; run the real ``make up`` there, on the running stack,
so that the whole reference system starts with it; publish one event it consumes and find
it handled in its log. Everything runs in a namespace, databases and a services state
directory of the test's own, so a developer's ``make up`` on the same stack neither sees
it nor is disturbed by it; ``make services-down`` runs whatever happens, and no process
may be left behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bus import BusSettings, Publisher
from bus._internal.broker import make_broker
from bus.discovery import read_presence
from contracts import NotificationSent
from tests.helpers import eventually, processes_under

ROOT = Path(__file__).resolve().parents[2]

EVENT = NotificationSent
"""What the new consumer subscribes to. Among the reference services only the journal
consumes it too, so publishing it sends no mail and starts no job."""

NOT_INHERITED = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "BUS_OPS_PORT")
"""Left out of the inner ``make``'s environment: a ``make test`` around this test would
pass its own make flags down, and one ops port for every replica cannot be bound twice.
So is every ``SERVICES_*`` variable (``SERVICES_FILE`` would run another list)."""


def copy_repository(destination: Path) -> Path:
    """The working tree's files (tracked or not, but not ignored) copied to ``destination``,
    with ``.venv`` a link to the real one; no ``.stack``, no caches."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if not source.is_file():  # deleted in the working tree, not committed yet
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    (destination / ".venv").symlink_to(ROOT / ".venv")
    return destination


def replicas(services_txt: Path) -> list[tuple[str, int]]:
    """``(name, replica)`` for every line of a services file (as ``infra/services.sh``)."""
    found = []
    for line in services_txt.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            found += [(fields[0], r) for r in range(int(fields[1]) if len(fields) > 1 else 1)]
    return found


def records(log: Path) -> list[dict[str, Any]]:
    """The JSON lines of a service's log (not the ``=====`` lines services.sh adds)."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


@dataclass
class Checkout:
    """The copy of the repository, and the environment its ``make`` runs with."""

    root: Path
    env: dict[str, str]
    logs: Path

    async def run(self, *command: str, within: float) -> tuple[int, str]:
        """``command`` in the copy; its exit code and its output (stdout and stderr).

        It leads a process group of its own, killed whole after ``within`` seconds (the
        services it started are in sessions of their own: ``services-down`` stops them)."""
        process = await asyncio.create_subprocess_exec(
            *command, cwd=self.root, env=self.env, start_new_session=True,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            out, _ = await asyncio.wait_for(process.communicate(), within)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            out, _ = await process.communicate()
            return -1, f"timed out after {within}s: {' '.join(command)}\n{out.decode()}"
        assert process.returncode is not None
        return process.returncode, out.decode()

    async def make(self, target: str, *, within: float) -> tuple[int, str]:
        """The real ``make TARGET``. ``-o``: the copied pyproject.toml may be newer than
        the shared venv's stamp, and make must not reinstall the project into that venv."""
        make = shutil.which("make")
        assert make is not None, "make is not installed"
        return await self.run(make, "-o", ".venv/.installed", target, within=within)


@pytest.fixture
async def checkout(
    tmp_path: Path, pg_settings: BusSettings, credentials: Path
) -> AsyncIterator[Checkout]:
    """A copy of the repository whose ``make up`` runs the services in the test's namespace
    (which also scopes their Redis keys and client ids) and its MongoDB and PostgreSQL
    databases, on the stack already running, with their pidfiles and logs in ``tmp_path``;
    they are stopped afterwards (``make services-down``) and their broker sessions discarded."""
    settings = pg_settings
    state = tmp_path / "services"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in NOT_INHERITED and not k.startswith("SERVICES_")
    }
    made = Checkout(
        root=copy_repository(tmp_path / "repo"),
        logs=state / "logs",
        env=env
        | {
            # Stack dir as the stack's own scripts see it: `stack.sh up` finds it running.
            "CHORUS_STACK_DIR": os.environ.get("CHORUS_STACK_DIR", str(ROOT / ".stack")),
            "SERVICES_STATE_DIR": str(state),
            "SERVICES_READY_TIMEOUT": "90",  # 30 by default; 8 replicas take ~6 s on 2 cores
            "BUS_MQTT_URL": settings.mqtt_url,
            "BUS_NAMESPACE": settings.namespace,
            "BUS_CREDENTIALS_DIR": str(credentials),
            "BUS_MONGO_URL": settings.mongo_url,
            "BUS_POSTGRES_URL": settings.postgres_url,
            "BUS_REDIS_URL": settings.redis_url,
            "BUS_SESSION_EXPIRY": str(settings.session_expiry),
            "BUS_DEDUP_TTL": str(settings.dedup_ttl),
            "GATEWAY_PORT": "0",  # any free port: a developer's gateway may hold 8000
            "CHORUS_CONSOLE_PORT": "0",  # and a developer's console may hold 8700
            "STORAGE_ROOT": str(tmp_path / "blobs"),
            # The copy's packages before the editable install's (the real working tree).
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(tmp_path / "repo"), os.environ.get("PYTHONPATH")) if p
            ),
            "PYTHONDONTWRITEBYTECODE": "1",
        },
    )
    try:
        yield made
    finally:
        try:
            code, out = await made.make("services-down", within=120)
        finally:
            left = await processes_under(tmp_path)
            for pid, _ in left:
                os.kill(pid, signal.SIGKILL)
            for name, r in replicas(made.root / "infra" / "services.txt"):
                # A clean start with no expiry makes the broker forget the session.
                broker = make_broker(
                    settings, client_id=settings.client_id(name, str(r)), reconnect=False
                )
                await broker.connect()
                await broker.stop()
        assert code == 0, out
        assert not left, f"left running after make services-down (killed now): {left}"


@pytest.mark.timeout(420)
async def test_make_up_runs_a_scaffolded_consumer_that_gets_its_events(
    checkout: Checkout, settings: BusSettings
) -> None:
    name = f"madeup_{uuid.uuid4().hex[:8]}"
    services_txt = checkout.root / "infra" / "services.txt"
    before = services_txt.read_text()
    working_tree = (ROOT / "infra" / "services.txt").read_bytes()

    code, out = await checkout.run(
        ".venv/bin/bus", "new", "consumer", name, "--on", EVENT.contract.type, within=60
    )
    assert code == 0, out
    assert f"created consumer {name}" in out
    assert services_txt.read_text().splitlines() == [*before.splitlines(), name]
    assert (checkout.root / "services" / name / "service.py").is_file()

    code, out = await checkout.make("up", within=240)
    assert code == 0, out
    assert f"svc-{name}-0" in out, out
    ops_urls = await check_console_and_ops_endpoints(checkout, settings, out)
    instance = "0"
    ready = checkout.logs.parent / "run" / f"svc-{name}-0.ready"
    assert ready.read_text().strip() == settings.client_id(name, instance)

    event = EVENT(
        document_id=uuid.uuid4(),
        recipient="ada@example.com",
        subject="report.txt is ready",
        template="document_ready",
        message_id=f"<{uuid.uuid4().hex}@chorus.test>",
    )
    # The same event in another namespace first: no replica of the test's may get it.
    elsewhere = settings.model_copy(
        update={"namespace": f"{settings.namespace}x", "journal_first": False}
    )
    async with Publisher(source="/notifier/0", settings=elsewhere) as publisher:
        decoy = await publisher.publish(event)
    async with Publisher(source="/notifier/0", settings=settings) as publisher:
        sent = await publisher.publish(event)

    log = checkout.logs / f"svc-{name}-0.log"

    def handled() -> list[dict[str, Any]]:
        return [
            r
            for r in records(log)
            if r.get("event_id") == sent.id and r["logger"] == f"services.{name}"
        ]

    try:
        await eventually(lambda: bool(handled()), within=30, what=f"{name} to log {sent.id}")
    except AssertionError as exc:
        tail = log.read_text()[-4000:] if log.exists() else f"(no {log})"
        raise AssertionError(f"{exc}\n----- {log.name}\n{tail}") from None
    [line] = handled()
    assert line["message"] == f"{name}: got {EVENT.contract.type} {sent.id}"
    assert (line["service"], line["instance"]) == (name, instance)
    async with httpx.AsyncClient(timeout=10) as http:  # its own metrics counted it

        async def counted() -> bool:
            # Counted once the outcome is recorded, a round trip after the handler logs.
            metrics = (await http.get(f"{ops_urls[name, instance]}/metrics")).text
            return handled_count(metrics, name) == 1

        await eventually(counted, within=10, what=f"{name}'s /metrics to count {sent.id}")

    mentions = {
        path.name: text
        for path in sorted(checkout.logs.glob("svc-*.log"))
        if decoy.id in (text := path.read_text())
    }
    assert not mentions, f"an event of another namespace reached: {sorted(mentions)}"
    assert (ROOT / "infra" / "services.txt").read_bytes() == working_tree
    assert not (ROOT / "services" / name).exists()


def handled_count(metrics: str, service: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "chorus_events_total"
        and sample.labels == {"service": service, "type": EVENT.contract.type, "outcome": "handled"}
    )


async def check_console_and_ops_endpoints(
    checkout: Checkout, settings: BusSettings, up: str
) -> dict[tuple[str, str], str]:
    """``make up`` started the console and ended with ``make status``, which says where it
    is, that it answers, and where the ops password is; every replica's presence names
    an ops endpoint on loopback. Returns them by (service, instance)."""
    # RUNNING once supervisord's startsecs have passed; STARTING (alive and ready) before.
    row = re.search(r"^console +(\d+) +yes +yes .* (?:STARTING|RUNNING)$", up, re.MULTILINE)
    assert row, up
    credentials = checkout.env["BUS_CREDENTIALS_DIR"]
    line = re.search(
        r"^console: (http://127\.0\.0\.1:\d+/) healthy; log in as ops \(password in "
        + re.escape(f"{credentials}/ops.json") + r"\) to act, or as ops-readonly",
        up, re.MULTILINE,
    )  # fmt: skip
    assert line, up
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{line[1]}healthz")).json() == {"status": "ok"}
        login = await http.get(f"{line[1]}numbers")  # behind the login
        assert login.status_code == 303
        assert login.headers["location"] == "/login"

        sightings = (await read_presence(settings)).sightings()
        expected = {(n, str(r)) for n, r in replicas(checkout.root / "infra" / "services.txt")}
        found = {(s.presence.service, s.presence.instance): s.presence for s in sightings}
        assert expected <= set(found), sorted(found)
        urls = {key: presence.ops_url for key, presence in found.items() if presence.ops_url}
        assert set(urls) == set(found), sorted(set(found) - set(urls))
        assert all(url.startswith("http://127.0.0.1:") for url in urls.values()), urls
        metrics = await http.get(f"{urls['journal', '0']}/metrics")
        assert "# TYPE chorus_handler_seconds histogram" in metrics.text
    return urls
