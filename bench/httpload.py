"""HTTP load with `vegeta <https://github.com/tsenart/vegeta>`_: a maintained Go load
tool whose report is JSON (latency percentiles, throughput, status codes) and which takes
many targets (one URL per document here; ``hey`` and ``oha`` take one URL).

It is built once with ``go install`` into a folder outside the repository, as
infra/stack.sh builds FerretDB (``$XDG_DATA_HOME/chorus/tools``, or
``CHORUS_VEGETA_BIN`` for a binary of your own). :func:`closed_loop` finds the most a
server answers: ``-rate=0`` with ``clients`` workers, each sending its next request when
the last one is answered, so ``clients`` requests are in flight at all times and the
latency includes the queue of a saturated server. :func:`at_rate` offers a fixed rate
with at most ``clients`` requests in flight: the latency a server gives at that load.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

VEGETA_VERSION = "v12.13.0"
VEGETA_MODULE = "github.com/tsenart/vegeta/v12"


def _tools_dir() -> Path:
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "chorus" / "tools" / f"vegeta-{VEGETA_VERSION}"


def _go() -> str | None:
    return shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").is_file() else None
    )


def vegeta() -> Path:
    """The vegeta binary, built with ``go install`` the first time.

    Raises:
        RuntimeError: No Go toolchain, or the build failed (with Go's message).
    """
    own = os.environ.get("CHORUS_VEGETA_BIN")
    if own:
        return Path(own)
    binary = _tools_dir() / "vegeta"
    if binary.is_file():
        return binary
    go = _go()
    if go is None:
        msg = "vegeta must be built but 'go' was not found (PATH, /usr/local/go/bin)"
        raise RuntimeError(msg)
    binary.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOBIN=str(binary.parent), GOWORK="off", GOFLAGS="-mod=mod")
    done = subprocess.run(
        [go, "install", f"{VEGETA_MODULE}@{VEGETA_VERSION}"],
        env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not binary.is_file():
        raise RuntimeError(f"go install {VEGETA_MODULE}@{VEGETA_VERSION} failed: {done.stderr}")
    return binary


def targets(base_url: str, paths: list[str], headers: dict[str, str]) -> str:
    """vegeta's JSON targets: one GET a line."""
    header = {name: [value] for name, value in headers.items()}
    return "".join(
        json.dumps({"method": "GET", "url": f"{base_url}{path}", "header": header}) + "\n"
        for path in paths
    )


def summarize(
    report: dict[str, Any], clients: int, seconds: float, rate: int = 0
) -> dict[str, Any]:
    """The numbers the bench keeps from ``vegeta report -type=json``."""
    latencies = report["latencies"]

    def ms(key: str) -> float:
        return round(float(latencies[key]) / 1e6, 2)

    return {
        "concurrency": clients,
        "seconds": seconds,
        **({"offered_per_s": rate} if rate else {}),
        "requests": report["requests"],
        "requests_per_s": round(report["throughput"], 1),
        "sent_per_s": round(report["rate"], 1),
        "success": round(report["success"], 4),
        "p50_ms": ms("50th"),
        "p90_ms": ms("90th"),
        "p99_ms": ms("99th"),
        "max_ms": ms("max"),
        "status_codes": report.get("status_codes", {}),
        "errors": sorted(set(report.get("errors") or []))[:5],
        "tool": f"vegeta {VEGETA_VERSION}",
    }


async def closed_loop(
    base_url: str, paths: list[str], headers: dict[str, str], *, clients: int, seconds: float
) -> dict[str, Any]:
    """GET ``paths`` in turn from ``clients`` concurrent clients for ``seconds``, each
    asking again as soon as it is answered."""
    return await _attack(base_url, paths, headers, clients=clients, seconds=seconds, rate=0)


async def at_rate(
    base_url: str,
    paths: list[str],
    headers: dict[str, str],
    *,
    rate: int,
    clients: int,
    seconds: float,
) -> dict[str, Any]:
    """GET ``paths`` in turn at ``rate`` requests/s for ``seconds``, with at most
    ``clients`` requests in flight (a server slower than that falls behind the rate).

    vegeta times a request from when a worker sends it: one that waited for a free worker
    is not timed waiting, it only lowers the rate sent (``sent_per_s``), which the goal's
    verdict requires within 1% of ``rate``."""
    return await _attack(base_url, paths, headers, clients=clients, seconds=seconds, rate=rate)


async def _attack(
    base_url: str,
    paths: list[str],
    headers: dict[str, str],
    *,
    clients: int,
    seconds: float,
    rate: int,
) -> dict[str, Any]:
    binary = await asyncio.to_thread(vegeta)
    pace = f"-rate={rate}/s" if rate else "-rate=0"
    with tempfile.TemporaryDirectory(prefix="chorus-bench-http-") as folder:
        target_file = Path(folder) / "targets.json"
        target_file.write_text(targets(base_url, paths, headers))
        attack = await asyncio.create_subprocess_exec(
            str(binary), "attack", "-format=json", f"-targets={target_file}", pace,
            f"-workers={clients}", f"-max-workers={clients}", f"-duration={seconds}s",
            "-timeout=10s", "-keepalive=true",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        results, attack_errors = await attack.communicate()
        if attack.returncode != 0:
            raise RuntimeError(f"vegeta attack failed: {attack_errors.decode()}")
        report = await asyncio.create_subprocess_exec(
            str(binary), "report", "-type=json",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, report_errors = await report.communicate(results)
        if report.returncode != 0:
            raise RuntimeError(f"vegeta report failed: {report_errors.decode()}")
    return summarize(json.loads(out), clients, seconds, rate)
