"""``infra/services.sh`` supervises the replicas it starts: one killed is restarted and counted.

Real processes, no mocks: ``services.sh up`` starts a supervisord and one ``journal`` replica
in a state directory, a services file, a namespace and a MongoDB database of the test's own
(as ``test_scaffold_make_up.py`` does), so a developer's ``make up`` on the same stack is
neither seen nor disturbed. The replica is killed with SIGKILL; supervisord must start a new
one, which becomes ready again, and ``services.sh status`` must count one restart.
``services.sh down`` must then leave no process behind, supervisord included.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiomqtt
import pytest

from bus import BusSettings
from tests.helpers import eventually, ops_login, processes_under

ROOT = Path(__file__).resolve().parents[2]
SERVICES_SH = ROOT / "infra" / "services.sh"

SERVICE = "journal"
"""Small, and needs only the broker, Redis and its MongoDB database."""

REPLICA = f"svc-{SERVICE}-0"

NOT_INHERITED = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "BUS_OPS_PORT")
"""Left out of the services' environment, with every ``SERVICES_*`` variable (as in
``test_scaffold_make_up.py``)."""


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


@dataclass
class Supervised:
    """A set of services of the test's own, driven through ``infra/services.sh``."""

    folder: Path
    env: dict[str, str]

    @property
    def run_dir(self) -> Path:
        return self.folder / "services" / "run"

    async def sh(self, *args: str, within: float = 60) -> tuple[int, str]:
        """``services.sh ARGS``: its exit code and output (stdout and stderr)."""
        process = await asyncio.create_subprocess_exec(
            str(SERVICES_SH), *args, cwd=ROOT, env=self.env, start_new_session=True,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            out, _ = await asyncio.wait_for(process.communicate(), within)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            out, _ = await process.communicate()
            return -1, f"timed out after {within}s: services.sh {' '.join(args)}\n{out.decode()}"
        assert process.returncode is not None
        return process.returncode, out.decode()

    async def status(self) -> dict[str, dict[str, str]]:
        """``services.sh status`` as ``{instance: {column: value}}``."""
        code, out = await self.sh("status")
        assert code == 0, out
        lines = out.splitlines()
        header = lines[0].split()
        assert header[:7] == ["INSTANCE", "PID", "ALIVE", "READY", "UPTIME", "RESTARTS", "STATE"]
        return {
            fields[0]: dict(zip(header, fields, strict=False))
            for fields in (line.split() for line in lines[1:])
            if fields and fields[0].startswith("svc-")
        }

    def pid(self) -> int | None:
        """The replica's pid, from its pidfile, if that process runs."""
        try:
            pid = int((self.run_dir / f"{REPLICA}.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if alive(pid) else None

    @property
    def ready_file(self) -> Path:
        return self.run_dir / f"{REPLICA}.ready"


@pytest.fixture
async def supervised(
    tmp_path: Path, settings: BusSettings, credentials: Path
) -> AsyncIterator[Supervised]:
    """One journal replica's worth of configuration; ``services.sh down`` afterwards whatever
    happens, leftovers killed, and the replica's broker session discarded."""
    services_txt = tmp_path / "services.txt"
    services_txt.write_text(f"{SERVICE}\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in NOT_INHERITED and not k.startswith("SERVICES_")
    }
    made = Supervised(
        folder=tmp_path,
        env=env
        | {
            "SERVICES_STATE_DIR": str(tmp_path / "services"),
            "SERVICES_FILE": str(services_txt),
            "BUS_MQTT_URL": settings.mqtt_url,
            "BUS_NAMESPACE": settings.namespace,
            "BUS_CREDENTIALS_DIR": str(credentials),
            "BUS_MONGO_URL": settings.mongo_url,
            "BUS_REDIS_URL": settings.redis_url,
            "BUS_SESSION_EXPIRY": str(settings.session_expiry),
            "BUS_DEDUP_TTL": str(settings.dedup_ttl),
            "PYTHONDONTWRITEBYTECODE": "1",
        },
    )
    try:
        yield made
    finally:
        try:
            await made.sh("down")
        finally:
            for pid, _ in await processes_under(tmp_path):
                os.kill(pid, signal.SIGKILL)
            # A clean start with no session expiry makes the broker forget the session.
            url = urlsplit(settings.mqtt_url)
            async with aiomqtt.Client(
                url.hostname or "localhost",
                url.port or 1883,
                identifier=settings.client_id(SERVICE, "0"),
                protocol=aiomqtt.ProtocolVersion.V5,
                clean_start=True,
                username=ops_login(settings).username,
                password=ops_login(settings).password,
            ):
                pass


@pytest.mark.timeout(90)
async def test_a_killed_replica_is_restarted_counted_and_stopped_by_down(
    supervised: Supervised, settings: BusSettings
) -> None:
    code, out = await supervised.sh("up")
    assert code == 0, out
    assert re.search(rf"^{REPLICA} +started \(pid \d+\)", out, re.MULTILINE), out
    first = supervised.pid()
    assert first is not None, out
    assert supervised.ready_file.read_text().strip() == settings.client_id(SERVICE, "0")
    [supervisord] = [
        pid for pid, args in await processes_under(supervised.folder) if "supervisord" in args
    ]
    before = (await supervised.status())[REPLICA]
    assert (before["PID"], before["ALIVE"], before["READY"]) == (str(first), "yes", "yes")
    assert before["RESTARTS"] == "0"

    os.kill(first, signal.SIGKILL)
    killed = time.monotonic()

    def back() -> bool:
        pid = supervised.pid()
        return pid not in (None, first) and supervised.ready_file.exists()

    await eventually(back, within=20, what=f"a new {REPLICA}, ready")
    took = time.monotonic() - killed
    second = supervised.pid()
    assert second is not None
    assert f"--ready-file {supervised.ready_file}" in cmdline(second)
    assert not alive(first)
    print(f"\n{REPLICA}: pid {first} killed, pid {second} ready {took:.2f}s later")

    async def counted() -> bool:
        row = (await supervised.status())[REPLICA]
        return (row["PID"], row["READY"], row["RESTARTS"]) == (str(second), "yes", "1")

    await eventually(counted, within=10, what="status to show the new pid, ready, 1 restart")

    code, out = await supervised.sh("down")
    assert code == 0, out
    assert f"stopped (pid {second})" in out, out
    assert not alive(supervisord)
    assert await processes_under(supervised.folder) == []
    assert not any(supervised.run_dir.glob(f"{REPLICA}.*")), sorted(supervised.run_dir.iterdir())
