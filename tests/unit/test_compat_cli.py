"""``bus contracts snapshot`` and ``bus contracts check``, as CI runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bus.tools.compat import BASELINE
from contracts import registry
from tests.helpers import bus


@pytest.fixture(autouse=True)
def contracts_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry as a fresh ``bus`` process has it: the contracts package's events, not
    those other tests in this process declared."""
    own = {t: c for t, c in registry._by_type.items() if c.__module__.startswith("contracts.")}
    monkeypatch.setattr(registry, "_by_type", own)


def lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines()]


@pytest.fixture
def tampered(tmp_path: Path) -> Path:
    """The real baseline, changed so that the code looks like it broke four things."""
    data: dict[str, Any] = json.loads(BASELINE.read_text())
    uploaded = data["events"]["documents.uploaded.v1"]
    fields = uploaded["schema"]["properties"]
    fields["owner"]["maxLength"] = 500  # the code allows 200: maxLength lowered
    fields["legacy_id"] = {"type": "string"}  # the code has no such field: removed
    del fields["size_bytes"]["minimum"]  # the code has minimum 0: added
    data["events"]["documents.ready.v1"]["topic"] = "documents/ready"
    data["events"]["documents.shredded.v1"] = {**uploaded, "class": "contracts.Gone"}
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(data))
    return path


def test_check_passes_on_the_committed_baseline() -> None:
    result = bus("contracts", "check")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "BREAKING" not in result.stdout
    assert "contracts compatible with" in result.stdout


def test_check_names_each_breaking_change_and_exits_1(tampered: Path) -> None:
    result = bus("contracts", "check", "--file", str(tampered))
    assert result.exit_code == 1
    out = lines(result.stdout)
    for expected in [
        "BREAKING documents.uploaded.v1 owner: maxLength lowered: 500 -> 200",
        "BREAKING documents.uploaded.v1 legacy_id: field removed",
        "BREAKING documents.uploaded.v1 size_bytes: minimum >= 0 added",
        "BREAKING documents.ready.v1: topic changed: documents/ready -> documents/ready/v1",
        "BREAKING documents.shredded.v1: version removed from the code (was class contracts.Gone)",
    ]:
        assert expected in out, result.stdout
    assert "5 breaking change(s)" in " ".join(result.stderr.split())


def test_check_json_is_for_machines(tampered: Path) -> None:
    result = bus("contracts", "check", "--json", "--file", str(tampered))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["compatible"] is False
    assert report["breaking"] == 5
    assert {
        "event_type": "documents.uploaded.v1",
        "path": "legacy_id",
        "kind": "field-removed",
        "message": "field removed",
        "breaking": True,
        "consumers_first": False,
    } in report["changes"]


def test_check_lists_compatible_changes_and_passes(tmp_path: Path) -> None:
    data: dict[str, Any] = json.loads(BASELINE.read_text())
    fields = data["events"]["documents.uploaded.v1"]["schema"]["properties"]
    fields["owner"]["maxLength"] = 100  # the code allows more: loosened
    del data["events"]["jobs.failed.v1"]  # the code has it: a new event type
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(data))
    result = bus("contracts", "check", "--file", str(path))
    assert result.exit_code == 0, result.stdout + result.stderr
    out = lines(result.stdout)
    assert "info jobs.failed.v1: new event type" in out
    assert any(
        line.startswith("info documents.uploaded.v1 owner: maxLength raised") for line in out
    )


def test_snapshot_is_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    for path in (first, second):
        result = bus("contracts", "snapshot", "--file", str(path))
        assert result.exit_code == 0, result.stderr
        assert "event versions to" in result.stdout
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes().endswith(b"}\n")
    check = bus("contracts", "check", "--file", str(first))
    assert check.exit_code == 0
    assert "BREAKING" not in check.stdout


@pytest.mark.parametrize(
    ("args", "content", "message"),
    [
        (["check"], None, "cannot read the baseline"),
        (["check"], "{not json", "is not valid JSON"),
        (["check", "--json"], '{"events": []}', "is not a snapshot"),
        (["check", "--schema", "documents.uploaded.v1"], "{}", "--schema goes with the listing"),
        (["snapshot", "--json"], "{}", "--json goes with 'check'"),
    ],
)
def test_wrong_arguments_exit_2_and_say_why(
    tmp_path: Path, args: list[str], content: str | None, message: str
) -> None:
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content)
    result = bus("contracts", *args, "--file", str(path))
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
