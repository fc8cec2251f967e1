"""The running gateway gzips large JSON for clients that accept it, and never its
Server-Sent Events: each event reaches the client as it happens, uncompressed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.system.conftest import SAMPLES, Pipeline

pytestmark = pytest.mark.timeout(60)


async def events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    kind = ""
    async for line in lines:
        if line.startswith("event:"):
            kind = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            yield kind, json.loads(line.removeprefix("data:"))


async def test_json_is_gzipped_and_events_stream_as_they_happen(pipeline: Pipeline) -> None:
    # Without inspectors the document waits at 'accepted': its stream stays open, so an
    # event arrives only if the gateway sends it at once rather than at the stream's end.
    for service in pipeline.services:
        if service.name.startswith("inspector-"):
            await service.stop()
    _, token = await pipeline.user("zip@example.com")
    async with pipeline.client(token) as http:
        spec = await http.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
        assert spec.headers["content-encoding"] == "gzip"
        assert spec.json()["info"]["title"] == "Chorus document intake"

        data = (SAMPLES / "english.txt").read_bytes()
        answer = await http.post("/documents", files={"file": ("a.txt", data, "text/plain")})
        assert answer.status_code == 202, answer.text
        location = answer.headers["location"]

        headers = {"Accept-Encoding": "gzip"}
        async with http.stream("GET", f"{location}/events", headers=headers) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert "content-encoding" not in stream.headers
            statuses: list[str] = []

            async def until_accepted() -> None:
                async for kind, item in events(stream.aiter_lines()):
                    assert kind == "status", (kind, item)  # never 'end': no inspector
                    statuses.append(item["status"])
                    if item["status"] == "accepted":
                        return

            await asyncio.wait_for(until_accepted(), 20)
        assert statuses == ["uploaded", "accepted"]
