"""Archive exports through the whole pipeline: documents uploaded until ready, an export
asked for over HTTP, written by the exporter's job, followed by SSE and long poll,
downloaded and opened; its expiry purged by the scheduled job."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from bus import Service
from bus.journal import JournalEntry
from services import exporter
from services.exporter import ExporterSettings
from services.storage import LocalStorage
from tests.helpers import eventually
from tests.system.conftest import SAMPLES, Pipeline

pytestmark = pytest.mark.timeout(240)


@asynccontextmanager
async def running_exporter(
    pipeline: Pipeline, name: str, config: ExporterSettings
) -> AsyncIterator[Service]:
    """The exporter beside the pipeline's services, on its broker, stores and blob folder
    (and, as they do, under the stack's ``ops`` login on the private broker)."""
    service = exporter.create_service(
        name, pipeline.settings, config, storage=LocalStorage(pipeline.blobs)
    )
    await service.start(work=True)
    try:
        yield service
    finally:
        await service.stop()


async def upload_ready(
    http: httpx.AsyncClient, filename: str, sample: str, status: str = "ready"
) -> UUID:
    """Upload ``sample`` as ``filename`` and long-poll until it is final (``status``)."""
    data = (SAMPLES / sample).read_bytes()
    answer = await http.post("/documents", files={"file": (filename, data, "text/plain")})
    assert answer.status_code == 202, answer.text
    location = answer.headers["Location"]
    for _ in range(60):
        document = (await http.get(location, params={"wait": 1})).json()
        if document["status"] in {"ready", "rejected", "failed"}:
            assert document["status"] == status, document
            return UUID(document["id"])
    raise AssertionError(f"{filename} not final: {document}")


async def request_export(http: httpx.AsyncClient) -> str:
    answer = await http.post("/exports")
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert answer.headers["Location"] == body["location"] == f"/exports/{body['export_id']}"
    assert body["status"] == "requested"
    return str(body["location"])


async def follow(http: httpx.AsyncClient, location: str) -> list[tuple[str, dict[str, Any]]]:
    """The export's Server-Sent Events, until ``end``."""
    events: list[tuple[str, dict[str, Any]]] = []
    async with http.stream("GET", f"{location}/events") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        kind = ""
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((kind, json.loads(line.split(":", 1)[1])))
                if kind == "end":
                    return events
    raise AssertionError(f"the stream ended without 'end': {events}")


async def journaled(export_id: str, event_type: str) -> list[dict[str, Any]]:
    entries = await JournalEntry.find({"type": event_type}).to_list()
    return [
        e.envelope["data"]
        for e in entries
        if export_id in (e.envelope["data"].get("export_id"), e.envelope["data"].get("key"))
    ]


async def download(
    http: httpx.AsyncClient, location: str, view: dict[str, Any]
) -> tuple[dict[str, bytes], str]:
    """Download the export (whole, as plain bytes, and a range of it): its members by name,
    and its Content-Disposition."""
    export_id = view["id"]
    answer = await http.get(f"{location}/download")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/gzip"
    assert "content-encoding" not in answer.headers
    assert int(answer.headers["content-length"]) == len(answer.content) == view["size_bytes"]
    digest = hashlib.sha256(answer.content).digest()
    assert digest.hex() == view["sha256"]
    assert answer.headers["repr-digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f'-{export_id[:8]}.tar.gz"' in disposition

    plain = await http.get(f"{location}/download", headers={"Accept": "application/octet-stream"})
    assert plain.headers["content-type"] == "application/octet-stream"
    assert plain.content == answer.content
    part = await http.get(f"{location}/download", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == answer.content[10:20]

    with tarfile.open(fileobj=io.BytesIO(answer.content), mode="r:gz") as tar:
        members = {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
        }
    return members, disposition


async def test_an_export_holds_exactly_the_owners_ready_documents(
    pipeline: Pipeline, unique: Any
) -> None:
    _, token = await pipeline.user("ada@example.com", max_documents=10)
    _, other_token = await pipeline.user("bob@example.com", max_documents=10)
    config = ExporterSettings(chunk_size=4096)
    async with (
        running_exporter(pipeline, unique("exporter"), config),
        pipeline.client(token) as http,
        pipeline.client(other_token) as other,
    ):
        await upload_ready(http, "notes.txt", "english.txt")
        await upload_ready(http, "Notes.txt", "german.txt")
        await upload_ready(http, "report.pdf", "report.pdf")
        await upload_ready(http, "broken.pdf", "corrupt.pdf", status="failed")
        await upload_ready(other, "theirs.txt", "english.txt")

        location = await request_export(http)
        export_id = location.rsplit("/", 1)[1]
        events = await follow(http, location)
        kinds = [kind for kind, _ in events]
        assert kinds[-1] == "end"
        assert "progress" in kinds or kinds.count("status") >= 2, events
        view = events[-1][1]
        assert view["status"] == "ready", view
        assert (view["document_count"], view["documents_total"], view["missing"]) == (3, 3, [])

        polled = (await http.get(location, params={"wait": 5})).json()
        assert polled["status"] == "ready"
        assert polled["download"] == f"{location}/download"
        expires = datetime.fromisoformat(polled["expires_at"])
        assert 23.9 * 3600 < (expires - datetime.now(UTC)).total_seconds() <= 24 * 3600

        members, disposition = await download(http, location, view)
        folder = disposition.split('filename="', 1)[1].removesuffix('.tar.gz"')
        assert members == {
            f"{folder}/notes.txt": (SAMPLES / "english.txt").read_bytes(),
            f"{folder}/Notes (2).txt": (SAMPLES / "german.txt").read_bytes(),
            f"{folder}/report.pdf": (SAMPLES / "report.pdf").read_bytes(),
        }

        # Only its owner sees it.
        for path in (location, f"{location}/events", f"{location}/download"):
            refused = await other.get(path)
            assert refused.status_code == 404, (path, refused.text)
            assert refused.json()["error"] == "not_found"
        assert [e["id"] for e in (await other.get("/exports")).json()] == []
        assert [e["id"] for e in (await http.get("/exports")).json()] == [export_id]

    # The bus: one progress event per document (and one at the start), one ExportReady.
    async def recorded() -> bool:
        return bool(await journaled(export_id, "exports.ready.v1"))

    await eventually(recorded, within=20, what="ExportReady in the journal")
    progress = await journaled(export_id, "jobs.progressed.v1")
    assert sorted(round(p["percent"]) for p in progress) == [0, 33, 67, 100]
    assert sum("/3: " in p["message"] for p in progress) == 3
    (announced,) = await journaled(export_id, "exports.ready.v1")
    assert (announced["document_count"], announced["sha256"]) == (3, view["sha256"])


async def test_an_expired_export_is_purged_by_the_scheduled_job(
    pipeline: Pipeline, unique: Any
) -> None:
    _, token = await pipeline.user("eve@example.com", max_documents=5)
    config = ExporterSettings(ttl=3, purge_schedule="* * * * * */2")
    async with (
        running_exporter(pipeline, unique("exporter"), config),
        pipeline.client(token) as http,
    ):
        await upload_ready(http, "a.txt", "english.txt")
        location = await request_export(http)
        view = (await follow(http, location))[-1][1]
        assert view["status"] == "ready", view
        archive = pipeline.blobs / "exports" / f"{view['id']}.tar.gz"
        assert archive.is_file()
        assert (await http.get(f"{location}/download")).status_code == 200

        async def expired() -> bool:
            return bool((await http.get(location)).json()["status"] == "expired")

        await eventually(expired, within=20, what="the export purged")
        assert not archive.exists()
        gone = await http.get(f"{location}/download")
        assert gone.status_code == 410, gone.text
        assert gone.json()["error"] == "expired"

    async def announced() -> bool:
        return bool(await journaled(view["id"], "exports.expired.v1"))

    await eventually(announced, within=20, what="ExportExpired in the journal")
