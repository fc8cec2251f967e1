"""``make demo``: a demo user uploads the sample files; watch them go through the pipeline.

Needs ``make up`` (the stack and every service). Creates a user with the
accounts CLI's library call, exchanges its API key for a token, uploads each
file in ``samples/`` that should become ready, and follows every document's
Server-Sent Events until it is ``ready``, ``rejected`` or ``failed``, with a
progress bar per document and a line per step. Exits 1 if any is not ready.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from bus import BusSettings
from services.accounts import create_user

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
DEMO_FILES = {
    "english.txt": "text/plain",
    "german.txt": "text/plain",
    "report.pdf": "application/pdf",
    "pixel.png": "image/png",
}
console = Console(log_path=False)


async def follow(
    http: httpx.AsyncClient, name: str, location: str, progress: Progress, task: TaskID
) -> str:
    status = "uploaded"
    async with http.stream("GET", f"{location}/events", timeout=None) as stream:
        kind = ""
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                kind = line.removeprefix("event:").strip()
                continue
            if not line.startswith("data:"):
                continue
            data = json.loads(line.removeprefix("data:").strip())
            if kind == "end":
                status = data["status"]
                progress.update(task, completed=100, status=status)
                break
            percent = data.get("percent")
            step = data.get("message") or data["status"]
            progress.update(
                task,
                completed=percent if percent is not None else progress.tasks[task].completed,
                status=data["status"],
            )
            progress.console.log(f"[bold]{name}[/]: {data['event_type']} -> {step}")
    return status


async def demo(url: str, within: float) -> int:
    settings = BusSettings()
    email = f"demo-{uuid.uuid4().hex[:6]}@example.com"
    user = await create_user(settings.postgres_url, email)
    console.print(f"demo user [bold]{email}[/] ({user.user_id})")
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        answer = await http.post("/auth/token", json={"api_key": user.api_key})
        answer.raise_for_status()
        http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        columns = (
            TextColumn("{task.description:<14}"),
            BarColumn(),
            TextColumn("{task.fields[status]:<10}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            follows = []
            for name, content_type in DEMO_FILES.items():
                data = (SAMPLES / name).read_bytes()
                answer = await http.post("/documents", files={"file": (name, data, content_type)})
                answer.raise_for_status()
                location = answer.headers["Location"]
                progress.console.log(f"[bold]{name}[/]: 202 Accepted -> {location}")
                task = progress.add_task(name, total=100, status="uploaded")
                follows.append(follow(http, name, location, progress, task))
            try:
                async with asyncio.timeout(within):
                    statuses = await asyncio.gather(*follows)
            except TimeoutError:
                console.print(f"[red]not every document was final after {within:.0f}s[/]")
                return 1
    elapsed = time.monotonic() - started
    ready = sum(status == "ready" for status in statuses)
    colour = "green" if ready == len(statuses) else "red"
    console.print(f"[{colour}]{ready} of {len(statuses)} documents ready in {elapsed:.1f}s[/]")
    return 0 if ready == len(statuses) else 1


def main(
    url: Annotated[str, typer.Option(help="The gateway")] = "http://127.0.0.1:8000",
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for the documents")] = 120,
) -> None:
    """Upload the sample documents as a new demo user and follow them until they are ready."""
    try:
        code = asyncio.run(demo(url, timeout))
    except httpx.HTTPError as exc:
        console.print(f"[red]the gateway at {url} did not answer properly: {exc}[/] (make up?)")
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    typer.run(main)
