"""Fixtures for fault tests: private servers to kill, service processes to kill, a report."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bus import BusSettings

REPO = Path(__file__).resolve().parents[2]
STACK_SCRIPT = REPO / "infra" / "stack.sh"
PORT_VARIABLES = {"mosquitto": "MQTT_PORT", "redis": "REDIS_PORT"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    """Not gone and not a zombie (killed servers here may wait a while to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


class PrivateStack:
    """Servers of this test's own (``infra/stack.sh`` with its own folder and ports),
    so that killing them never touches the developer's running stack."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = {name: free_port() for name in PORT_VARIABLES}

    def url(self, name: str) -> str:
        if name == "mosquitto":
            return f"mqtt://127.0.0.1:{self.ports[name]}"
        # A private Redis takes the same generated login as the stack's.
        login = urlsplit(BusSettings().redis_url)
        where = f"{login.username}:{login.password}@127.0.0.1:{self.ports[name]}"
        return login._replace(netloc=where, path="/0").geturl()

    async def _script(self, *args: str) -> None:
        env = dict(os.environ, CHORUS_STACK_DIR=str(self.root))
        env.update({PORT_VARIABLES[name]: str(port) for name, port in self.ports.items()})
        process = await asyncio.create_subprocess_exec(
            "bash", str(STACK_SCRIPT), *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"stack.sh {' '.join(args)} failed:\n{out.decode()}")

    async def up(self, name: str) -> None:
        await self._script("up", name)

    async def down(self) -> None:
        await self._script("down", *self.ports)

    def pid(self, name: str) -> int:
        return int((self.root / "run" / f"{name}.pid").read_text().split()[0])

    async def kill(self, name: str, sig: signal.Signals) -> None:
        """Send ``sig`` and wait until the server is gone."""
        pid = self.pid(name)
        os.kill(pid, sig)
        for _ in range(600):
            if not _alive(pid):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{name} (pid {pid}) did not exit after {sig.name}")

    async def restart(self, name: str, sig: signal.Signals) -> None:
        await self.kill(name, sig)
        await self.up(name)


@pytest.fixture
async def private_stack(tmp_path: Path) -> AsyncIterator[PrivateStack]:
    stack = PrivateStack(tmp_path / "stack")
    yield stack
    await stack.down()


def consumer_env(settings: BusSettings, name: str, **extra: str) -> dict[str, str]:
    """The environment of a ``tests.faults.consumer`` process on the test's stack."""
    return dict(
        os.environ,
        BUS_MQTT_URL=settings.mqtt_url,
        BUS_NAMESPACE=settings.namespace,
        BUS_MONGO_URL=settings.mongo_url,
        BUS_SESSION_EXPIRY=str(settings.session_expiry),
        BUS_DEDUP_TTL=str(settings.dedup_ttl),
        CHORUS_TEST_SERVICE_NAME=name,
        **extra,
    )


class ServiceProcess:
    """``bus run MODULE:service`` in a subprocess, to be killed for real."""

    def __init__(self, target: str, instance: str, env: dict[str, str], folder: Path) -> None:
        self.target, self.instance, self.env = target, instance, env
        self.ready = folder / f"{instance}.ready"
        self.log = folder / f"{instance}.log"
        self.process: asyncio.subprocess.Process | None = None
        self.kills = 0

    async def start(self) -> None:
        self.ready.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bus", "run", self.target, "--instance", self.instance,
                "--ready-file", str(self.ready), env=self.env, stdout=log, stderr=log,
            )  # fmt: skip
        for _ in range(600):
            if self.ready.exists():
                return
            if self.process.returncode is not None:
                raise RuntimeError(f"{self.instance} exited:\n{self.log.read_text()[-3000:]}")
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{self.instance} not ready:\n{self.log.read_text()[-3000:]}")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        await self.process.wait()
        self.kills += 1

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def stop(self) -> int | None:
        if self.process is None or self.process.returncode is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGINT)
        try:
            return await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()
