"""End to end through the running reference system (``make up``), as a client sees it:
upload to ``ready``, and the gateway's ``GET /documents/{id}`` under load."""

from __future__ import annotations

import random
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.httpload import at_rate, closed_loop
from bench.stats import percentiles

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "english.txt"


async def gateway_answers(url: str) -> str | None:
    """None if the gateway at ``url`` answers its health check, else why not."""
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            (await http.get("/healthz")).raise_for_status()
    except httpx.HTTPError as exc:
        return f"no gateway at {url} ({type(exc).__name__}): run make up first"
    return None


async def token(url: str, api_key: str) -> str:
    """A bearer token for ``api_key``."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        answer = await http.post("/auth/token", json={"api_key": api_key})
        answer.raise_for_status()
        access: str = answer.json()["access_token"]
        return access


async def upload_to_ready(
    url: str, api_key: str, uploads: int, *, within: float = 300
) -> dict[str, Any]:
    """``uploads`` uploads one after another, for ``within`` seconds at most; for each,
    the time from sending it to a long-polling client seeing ``ready`` (which includes the
    catalog's work), and to the end of the inspection (the ``ready`` timeline entry
    carries the time of the inspector's event; same clock). An upload not ready within
    60 s counts as sent, not ready."""
    data = SAMPLE.read_bytes()
    recorded: list[float] = []
    seen: list[float] = []
    sent = 0
    stop = time.perf_counter() + within
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        http.headers["Authorization"] = f"Bearer {await token(url, api_key)}"
        for _ in range(uploads):
            if time.perf_counter() > stop:
                break
            sent += 1
            sent_at, start = time.time(), time.perf_counter()
            answer = await http.post(
                "/documents", files={"file": ("bench.txt", data, "text/plain")}
            )
            answer.raise_for_status()
            location = answer.headers["Location"]
            document: dict[str, Any] = {"status": "uploaded"}
            deadline = min(start + 60, stop)
            while document["status"] not in {"ready", "rejected", "failed"}:
                if time.perf_counter() > deadline:
                    break
                document = (await http.get(location, params={"wait": 10})).json()
            if document["status"] != "ready":
                continue
            seen.append(time.perf_counter() - start)
            ready = [t for t in document["timeline"] if t["status"] == "ready"]
            if ready:
                recorded.append(datetime.fromisoformat(ready[0]["at"]).timestamp() - sent_at)

    def ms(values: list[float], q: int) -> float | None:
        found = percentiles(values, (q,))
        return round(1000 * found[q], 1) if found else None

    return {
        "uploads": uploads,
        "sent": sent,
        "ready": len(seen),
        "ready_p50_ms": ms(seen, 50),
        "ready_p90_ms": ms(seen, 90),
        "ready_max_ms": round(1000 * max(seen), 1) if seen else None,
        "ready_mean_ms": round(1000 * statistics.fmean(seen), 1) if seen else None,
        "inspected_p50_ms": ms(recorded, 50),
        "inspected_p90_ms": ms(recorded, 90),
    }


async def gateway_reads(
    url: str, api_key: str, documents: list[Any], *, clients: int, seconds: float, rate: int
) -> dict[str, Any]:
    """``GET /documents/{id}`` of ``documents`` in random order for ``seconds``, twice:
    from ``clients`` clients asking as fast as they are answered (the most the gateway
    serves, :func:`bench.httpload.closed_loop`), then at ``rate`` requests/s with at most
    ``clients`` in flight (its latency at that load, ``at_rate``, under its own key; not
    run for ``rate`` 0)."""
    paths = [f"/documents/{d}" for d in random.sample(documents, min(len(documents), 5000))]
    headers = {"Authorization": f"Bearer {await token(url, api_key)}"}
    most = await closed_loop(url, paths, headers, clients=clients, seconds=seconds)
    if not rate:
        return {"documents": len(documents), **most}
    paced = await at_rate(url, paths, headers, rate=rate, clients=clients, seconds=seconds)
    return {"documents": len(documents), **most, "at_rate": paced}
