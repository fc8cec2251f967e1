"""The running gateway answers as its OpenAPI document says: Schemathesis generates
requests from the document (valid and invalid ones, as a real user with a bearer token)
and checks every answer against it: status codes, content types, headers, bodies, and no
server errors.

Schemathesis runs as its own command (what a developer runs by hand, with the same
options), bounded: a fixed number of examples per operation, a fixed seed, and a time
limit for the whole run.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from services.exporter import ExporterSettings
from tests.system.conftest import Pipeline
from tests.system.test_exports import running_exporter

pytestmark = pytest.mark.timeout(180)

MAX_EXAMPLES = 30
"""Test cases per operation in the fuzzing phase (the coverage phase has its own number)."""

CONFIG = """
[phases.stateful]
max-steps = 4

[phases.stateful.generation]
max-examples = 12
"""
"""Stateful scenarios (upload, then read what the answer links to) wait for the pipeline."""

TIME_LIMIT = 90.0
"""Seconds the whole run may take (25 to 35 s on a 2-core machine)."""

SEED = 13


async def schemathesis(pipeline: Pipeline, token: str, workdir: Path) -> tuple[int, str]:
    """Run ``schemathesis run`` in ``workdir`` (which holds its configuration) against the
    pipeline's gateway: its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "schemathesis.cli", "--config-file", "schemathesis.toml",
        "run", f"{pipeline.url}/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
        "--generation-database", "none", "--request-timeout", "10", "--workers", "1",
        "--report", "junit", "--report-dir", "reports", "--no-color",
        cwd=workdir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        output, _ = await asyncio.wait_for(process.communicate(), TIME_LIMIT)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"schemathesis ran past its limit of {TIME_LIMIT} s")
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    return tmp_path


async def test_the_gateway_conforms_to_its_openapi_document(
    pipeline: Pipeline, workdir: Path, unique: Callable[[str], str]
) -> None:
    _, token = await pipeline.user("conformance@example.com")
    started = time.monotonic()
    # The exporter too: an export nobody works on would keep its SSE and long polls open.
    async with running_exporter(pipeline, unique("exporter"), ExporterSettings()):
        code, output = await schemathesis(pipeline, token, workdir)
    print(output[-3000:], f"schemathesis: {time.monotonic() - started:.1f} s", sep="\n")
    assert code == 0, output[-20000:]
    assert "No issues found" in output, output[-5000:]
