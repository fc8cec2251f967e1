"""The command line refuses bad input with a clear reason, before touching the bus."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import bus

VALID = {
    "document_id": "9b2f0b7e-4a51-4c1e-9d57-0f6b5b7a1e11",
    "owner": "alice",
    "filename": "a.txt",
    "size_bytes": 12,
    "content_type": "text/plain",
    "storage_url": "file:///tmp/a.txt",
}


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
    assert result.exit_code == 1
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_contracts_lists_types_and_prints_schemas() -> None:
    listing = bus("contracts")
    assert listing.exit_code == 0
    assert "documents.uploaded.v1" in listing.stdout
    schema = bus("contracts", "--schema", "documents.uploaded.v1")
    assert schema.exit_code == 0
    assert "size_bytes" in json.loads(schema.stdout)["properties"]
    unknown = bus("contracts", "--schema", "nope.nope.v1")
    assert unknown.exit_code == 1
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
    assert result.exit_code != 0
    assert message in " ".join(result.stderr.split())


def test_the_console_script_exits_with_the_commands_code() -> None:
    # The one test of the installed entry point itself (``bus = bus.tools.cli:main``):
    # every other test runs the same app in this process.
    script = Path(sys.executable).with_name("bus")
    refused = subprocess.run(
        [str(script), "publish", "documents.uploaded.v1", "{not json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "DATA is not valid JSON" in refused.stderr
    assert "Traceback" not in refused.stderr
