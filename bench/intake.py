"""End to end through the running reference system: upload → ``ready``, as a client sees it."""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bus import BusSettings
from services.accounts import create_user

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "english.txt"


async def intake(settings: BusSettings, uploads: int, url: str) -> dict[str, Any]:
    """``uploads`` uploads one after another through the gateway that ``make up`` runs;
    the time from sending the upload to the inspection's end (the ``ready`` entry of the
    timeline carries the time of the inspector's event; same clock) and to a long-polling
    client seeing ``ready``, which includes the catalog's work on the way."""
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            (await http.get("/healthz")).raise_for_status()
    except httpx.HTTPError as exc:
        return {"skipped": f"no gateway at {url} ({type(exc).__name__}): run make up first"}
    user = await create_user(
        settings.postgres_url, f"bench-{uuid.uuid4().hex[:8]}@example.com", max_documents=uploads
    )
    data = SAMPLE.read_bytes()
    recorded: list[float] = []
    seen: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        token = (await http.post("/auth/token", json={"api_key": user.api_key})).json()
        http.headers["Authorization"] = f"Bearer {token['access_token']}"
        for _ in range(uploads):
            sent_at, start = time.time(), time.perf_counter()
            answer = await http.post(
                "/documents", files={"file": ("bench.txt", data, "text/plain")}
            )
            answer.raise_for_status()
            location = answer.headers["Location"]
            document: dict[str, Any] = {"status": "uploaded"}
            while document["status"] not in {"ready", "rejected", "failed"}:
                document = (await http.get(location, params={"wait": 10})).json()
            seen.append(time.perf_counter() - start)
            ready = [t for t in document["timeline"] if t["status"] == "ready"]
            if ready:
                recorded.append(datetime.fromisoformat(ready[0]["at"]).timestamp() - sent_at)

    def ms(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {
        "uploads": uploads,
        "ready": len(recorded),
        "inspected_p50_ms": ms(recorded, 0.5),
        "inspected_p90_ms": ms(recorded, 0.9),
        "inspected_max_ms": ms(recorded, 1.0),
        "client_saw_ready_p50_ms": ms(seen, 0.5),
        "client_saw_ready_mean_ms": round(1000 * statistics.fmean(seen), 1),
    }
