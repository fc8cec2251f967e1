"""A scaffolded consumer, in the real repository: its own tests pass on the real stack as
generated, and ruff and mypy (strict) accept its code. It is deleted afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.helpers import bus

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*command: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def generated(name: str) -> list[Path]:
    """What ``bus new consumer NAME`` writes, and what running it leaves (byte code)."""
    return [
        ROOT / "services" / name,
        ROOT / "tests" / "unit" / f"test_{name}.py",
        ROOT / "tests" / "integration" / f"test_{name}.py",
        *ROOT.glob(f"tests/*/__pycache__/test_{name}.*.pyc"),
    ]


def remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


@pytest.mark.timeout(900)
def test_a_scaffolded_consumer_passes_its_tests_ruff_and_mypy_as_generated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = f"scaffoldtest_{uuid.uuid4().hex[:8]}"
    services_txt = (ROOT / "infra" / "services.txt").read_bytes()
    monkeypatch.chdir(ROOT)
    try:
        result = bus(
            "new", "consumer", name,
            "--on", "documents.uploaded.v1", "--on", "DocumentInspected", "--no-register",
        )  # fmt: skip
        assert result.exit_code == 0, result.stdout + result.stderr
        assert f"created consumer {name}" in result.stdout
        paths = [str(p.relative_to(ROOT)) for p in generated(name)]
        assert all((ROOT / p).exists() for p in paths)
        assert (ROOT / "infra" / "services.txt").read_bytes() == services_txt

        tests = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths[1:])
        assert tests.returncode == 0, tests.stdout + tests.stderr
        assert "4 passed" in tests.stdout, tests.stdout  # 2 logic alone, 1 in memory, 1 stack

        for check in (["check"], ["format", "--check"]):
            ruff = run(BIN / "ruff", *check, *paths)
            assert ruff.returncode == 0, ruff.stdout + ruff.stderr
        mypy = run(BIN / "mypy", *paths)
        assert mypy.returncode == 0, mypy.stdout + mypy.stderr

        loaded = run(
            sys.executable, "-c",
            f"from bus.loader import load_service; print(load_service({name!r}).consumes)",
        )  # fmt: skip
        assert loaded.returncode == 0, loaded.stderr
        assert "DocumentUploaded" in loaded.stdout
        assert "DocumentInspected" in loaded.stdout
    finally:
        remove(generated(name))
    assert not any(p.exists() for p in generated(name))
    assert (ROOT / "infra" / "services.txt").read_bytes() == services_txt
