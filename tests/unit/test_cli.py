"""The command line refuses bad input with a clear reason, before touching the bus."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

VALID = {
    "document_id": "9b2f0b7e-4a51-4c1e-9d57-0f6b5b7a1e11",
    "owner": "alice",
    "filename": "a.txt",
    "size_bytes": 12,
    "content_type": "text/plain",
    "storage_url": "file:///tmp/a.txt",
}


def bus(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bus", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["documents.uploaded.v1", "{not json"], "DATA is not valid JSON"),
        (["documents.shredded.v1", "{}"], "unknown event type 'documents.shredded.v1'"),
        (["nothing/here/v1", "{}"], "no event is published on topic 'nothing/here/v1'"),
        (
            ["documents.uploaded.v1", json.dumps({**VALID, "size_bytes": "big"})],
            "data does not match documents.uploaded.v1: size_bytes",
        ),
        (
            ["documents.uploaded.v1", json.dumps({**VALID, "extra": 1})],
            "extra: Extra inputs are not permitted",
        ),
        (
            ["documents.uploaded.v1", "@/nonexistent/event.json"],
            "cannot read /nonexistent/event.json",
        ),
    ],
)
def test_publish_refuses_bad_input(args: list[str], message: str) -> None:
    result = bus("publish", *args)
    assert result.returncode == 1
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_publish_reports_an_unreachable_broker(tmp_path: Path) -> None:
    data = tmp_path / "event.json"
    data.write_text(json.dumps(VALID))
    env = {"BUS_MQTT_URL": "mqtt://127.0.0.1:9", "PATH": "/usr/bin:/bin"}
    result = bus("publish", "documents.uploaded.v1", f"@{data}", env=env)
    assert result.returncode == 1
    assert "cannot reach a server of the stack" in result.stderr


def test_contracts_lists_types_and_prints_schemas() -> None:
    listing = bus("contracts")
    assert listing.returncode == 0
    assert "documents.uploaded.v1" in listing.stdout
    schema = bus("contracts", "--schema", "documents.uploaded.v1")
    assert schema.returncode == 0
    assert "size_bytes" in json.loads(schema.stdout)["properties"]
    unknown = bus("contracts", "--schema", "nope.nope.v1")
    assert unknown.returncode == 1
    assert "unknown event type" in unknown.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "no-such-service"], "no service named 'no-such-service'"),
        (["tail", "documents.shredded.v1"], "unknown event type"),
        (["journal", "--limit", "0"], "Invalid value"),
        (["frobnicate"], "No such command"),
    ],
)
def test_wrong_arguments_say_what_was_wrong(args: list[str], message: str) -> None:
    result = bus(*args)
    assert result.returncode != 0
    assert message in " ".join(result.stderr.split())
