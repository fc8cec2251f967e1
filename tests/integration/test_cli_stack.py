"""The command line against the real stack: publish, tail, journal, run."""

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bus import BusSettings, Service
from services.journal import JournalEntry, create_service
from tests.helpers import eventually, uploaded

pytestmark = pytest.mark.connected


def environment(settings: BusSettings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        BUS_MQTT_URL=settings.mqtt_url,
        BUS_NAMESPACE=settings.namespace,
        BUS_MONGO_URL=settings.mongo_url,
        BUS_SESSION_EXPIRY=str(settings.session_expiry),
        **extra,
    )
    return env


async def bus(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bus",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_publish_shows_in_tail_and_in_the_journal(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    journal = create_service(unique("journal"), settings=settings)
    services.append(journal)
    await journal.start()
    env = environment(settings)

    tail = await bus("tail", "--json", "--count", "1", "documents.uploaded.v1", env=env)
    assert tail.stderr is not None
    assert tail.stdout is not None
    watching = f"watching {settings.wire_topic('documents/uploaded/v1')} ".encode()
    assert watching in await asyncio.wait_for(tail.stderr.readline(), 30)

    data = uploaded(5).model_dump_json()
    published = await bus(
        "publish", "documents.uploaded.v1", data, "--id", unique("evt"), "--json", env=env
    )
    out, err = await asyncio.wait_for(published.communicate(), 30)
    assert published.returncode == 0, err.decode()
    sent = json.loads(out)

    tailed = json.loads(await asyncio.wait_for(tail.stdout.readline(), 30))
    assert await asyncio.wait_for(tail.wait(), 30) == 0
    assert tailed["id"] == sent["id"]
    assert tailed["data"]["filename"] == "file-5.txt"
    assert tailed["correlationid"] == sent["id"]

    async def journaled() -> bool:
        return await JournalEntry.get(sent["id"]) is not None

    await eventually(journaled, what="the journal to record the event")
    listing = await bus("journal", "--json", "--type", "documents.uploaded.v1", env=env)
    out, err = await asyncio.wait_for(listing.communicate(), 30)
    assert listing.returncode == 0, err.decode()
    assert [json.loads(line)["id"] for line in out.splitlines()] == [sent["id"]]


async def test_bus_run_serves_until_interrupted_and_stops_cleanly(
    settings: BusSettings, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    name = unique("journal")
    ready = tmp_path / "ready"
    env = environment(settings, CHORUS_TEST_SERVICE_NAME=name)
    process = await bus(
        "run",
        "tests.integration.served_journal:service",
        "--instance",
        "t1",
        "--ready-file",
        str(ready),
        env=env,
    )
    try:
        await eventually(ready.exists, within=30, what="the service to be ready")
        assert ready.read_text().strip() == settings.client_id(name, "t1")
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, err.decode()
        assert not ready.exists()
        assert b"stopped" in err
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
