"""The command line against the real stack: publish, tail, journal, run.

``tail``, ``publish`` and ``journal`` run as processes of their own beside the journal
service this test runs: ``tail`` waits while ``publish`` runs, and ``publish`` (journal
first) and ``journal`` open MongoDB, whose client Beanie binds to one event loop per
process. ``bus run`` is a process by nature (SIGINT).
"""

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from bus import BusSettings, Service
from services.journal import JournalEntry, create_service
from tests.helpers import bus, eventually, uploaded


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


async def spawn(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    """``bus ARGS`` as a process of its own."""
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

    tail = await spawn("tail", "--json", "--count", "1", "documents.uploaded.v1", env=env)
    assert tail.stderr is not None
    assert tail.stdout is not None
    watching = f"watching {settings.wire_topic('documents/uploaded/v1')} ".encode()
    assert watching in await asyncio.wait_for(tail.stderr.readline(), 30)

    data = uploaded(5).model_dump_json()
    published = await spawn(
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
    listing = await spawn("journal", "--json", "--type", "documents.uploaded.v1", env=env)
    out, err = await asyncio.wait_for(listing.communicate(), 30)
    assert listing.returncode == 0, err.decode()
    assert [json.loads(line)["id"] for line in out.splitlines()] == [sent["id"]]


async def test_bus_run_serves_until_interrupted_and_stops_cleanly(
    settings: BusSettings, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    name = unique("journal")
    ready = tmp_path / "ready"
    env = environment(settings, CHORUS_TEST_SERVICE_NAME=name)
    process = await spawn(
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


VALID = {
    "document_id": "9b2f0b7e-4a51-4c1e-9d57-0f6b5b7a1e11",
    "owner": "alice",
    "filename": "a.txt",
    "size_bytes": 12,
    "content_type": "text/plain",
    "storage_url": "file:///tmp/a.txt",
}


def test_publish_reports_an_unreachable_broker(tmp_path: Path) -> None:
    # Journal first: the event is written to the stack's MongoDB before the broker is tried.
    data = tmp_path / "event.json"
    data.write_text(json.dumps(VALID))
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("BUS_")}
    env["BUS_MQTT_URL"] = "mqtt://127.0.0.1:9"
    result = bus("publish", "documents.uploaded.v1", f"@{data}", env=env)
    assert result.exit_code == 1
    assert "cannot reach a server of the stack" in result.stderr
