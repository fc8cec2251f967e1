"""Documents through the whole pipeline, over real HTTP, MQTT, Redis, PostgreSQL, MongoDB, SMTP."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from uuid import UUID

import httpx
import pytest

from bus.journal import JournalEntry, chain
from services.accounts import AccountsReader
from services.catalog import CatalogEntry
from tests.helpers import eventually
from tests.system.conftest import SAMPLES, Pipeline, quiet

pytestmark = pytest.mark.timeout(180)

TERMINAL = {"ready", "rejected", "failed"}


async def upload(http: httpx.AsyncClient, name: str, content_type: str) -> tuple[UUID, str]:
    data = (SAMPLES / name).read_bytes()
    answer = await http.post("/documents", files={"file": (name, data, content_type)})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert answer.headers["Location"] == body["location"] == f"/documents/{body['document_id']}"
    return UUID(body["document_id"]), body["location"]


async def settle(http: httpx.AsyncClient, location: str, within: int = 60) -> dict[str, Any]:
    """Long-poll until the document reaches a final status."""
    for _ in range(within):
        answer = await http.get(location, params={"wait": 1})
        assert answer.status_code == 200, answer.text
        if answer.json()["status"] in TERMINAL:
            return dict(answer.json())
    raise AssertionError(f"{location} not final after {within}s: {answer.json()}")


async def journaled(document_id: UUID) -> list[JournalEntry]:
    """Every journaled event about one document (its job's events included)."""
    entries = await JournalEntry.find_all().to_list()
    key = str(document_id)
    return [
        e for e in entries
        if e.envelope.get("data", {}).get("document_id") == key
        or e.envelope.get("data", {}).get("key") == key
    ]  # fmt: skip


async def test_four_documents_become_ready_once_each_with_the_whole_chain_recorded(
    pipeline: Pipeline,
) -> None:
    user, token = await pipeline.user("ada@example.com", max_documents=10)
    samples = {
        "english.txt": ("text/plain", "text/plain", "en"),
        "german.txt": ("text/plain", "text/plain", "de"),
        "report.pdf": ("application/pdf", "application/pdf", "en"),
        # Declared wrongly on purpose: the inspector trusts the bytes, not the client.
        "pixel.png": ("application/octet-stream", "image/png", None),
    }
    async with pipeline.client(token) as http:
        uploads = {
            name: await upload(http, name, declared) for name, (declared, _, _) in samples.items()
        }
        for name, (_, location) in uploads.items():
            _, detected, language = samples[name]
            document = await settle(http, location)
            assert document["status"] == "ready", document
            assert document["content_type"] == detected
            assert document["language"] == language
            assert document["filename"] == name

    # One mail per document, to the owner.
    async def all_mailed() -> bool:
        return all(pipeline.inbox.about(d) for d, _ in uploads.values())

    await eventually(all_mailed, within=20, what="a mail about every document")
    # NotificationSent is published once the mail is sent, JobSucceeded once the job returned.
    await quiet(pipeline)
    for document_id, _ in uploads.values():
        mails = pipeline.inbox.about(document_id)
        assert len(mails) == 1
        assert mails[0]["To"] == "ada@example.com"

    # PostgreSQL: the quota used.
    sizes = sum((SAMPLES / name).stat().st_size for name in samples)
    async with AccountsReader(pipeline.settings.postgres_url) as reader:
        quota = await reader.quota(user.user_id)
    assert quota is not None
    assert (quota.documents_used, quota.bytes_used) == (4, sizes)

    for name, (document_id, _) in uploads.items():
        # MongoDB: the catalog entry and its timeline.
        entry = await CatalogEntry.get(document_id)
        assert entry is not None
        statuses = [item.status for item in entry.timeline]
        assert statuses[0] == "uploaded"
        assert {"accepted", "inspecting", "ready"} <= set(statuses), (name, statuses)

        # The journal: one causal chain, processed once although two replicas of the
        # inspector and of the catalog ran.
        entries = await journaled(document_id)
        roots = [e for e in entries if e.type == "documents.uploaded.v1"]
        assert len(roots) == 1
        whole = await chain(roots[0].id)
        ids = {e.id for e in whole}
        for entry_ in whole:
            assert entry_.correlationid == roots[0].id
            if entry_.id != roots[0].id:
                assert entry_.causationid in ids, (entry_.type, entry_.causationid)
        counts = Counter(e.type for e in whole)
        for once in (
            "accounts.quota_reserved.v1", "documents.inspected.v1", "jobs.succeeded.v1",
            "documents.ready.v1", "notifications.sent.v1",
        ):  # fmt: skip
            assert counts[once] == 1, (name, once, counts)
        assert counts["jobs.progressed.v1"] >= 2


async def test_an_upload_over_quota_is_rejected_mailed_and_never_inspected(
    pipeline: Pipeline,
) -> None:
    _, token = await pipeline.user("bob@example.com", max_bytes=100)
    async with pipeline.client(token) as http:
        document_id, location = await upload(http, "english.txt", "text/plain")
        document = await settle(http, location)
    assert document["status"] == "rejected"
    assert "quota" in document["reason"]

    await eventually(lambda: bool(pipeline.inbox.about(document_id)), what="the rejection mail")
    assert len(pipeline.inbox.about(document_id)) == 1
    await eventually(lambda: not pipeline.stored_blobs(), what="the bytes to be deleted")
    await quiet(pipeline)  # DocumentContentDeleted is published once the bytes are deleted

    types = Counter(e.type for e in await journaled(document_id))
    assert types["accounts.quota_exceeded.v1"] == 1
    assert types["jobs.progressed.v1"] == types["documents.inspected.v1"] == 0
    assert types["documents.content_deleted.v1"] == 1


async def test_a_corrupt_file_fails_and_its_quota_and_bytes_are_given_back(
    pipeline: Pipeline,
) -> None:
    user, token = await pipeline.user("cy@example.com", max_documents=5)
    async with pipeline.client(token) as http:
        document_id, location = await upload(http, "corrupt.pdf", "application/pdf")
        document = await settle(http, location)
    assert document["status"] == "failed"
    assert document["reason"]

    reader = AccountsReader(pipeline.settings.postgres_url)
    try:

        async def released() -> bool:
            quota = await reader.quota(user.user_id)
            return quota is not None and (quota.documents_used, quota.bytes_used) == (0, 0)

        await eventually(released, what="the reserved quota to be released")
    finally:
        await reader.close()
    await eventually(lambda: not pipeline.stored_blobs(), what="the bytes to be deleted")
    await eventually(lambda: bool(pipeline.inbox.about(document_id)), what="the failure mail")
    # QuotaReleased is published after the release's commit, DocumentContentDeleted after
    # the bytes are deleted.
    await quiet(pipeline)
    types = Counter(e.type for e in await journaled(document_id))
    assert types["documents.failed.v1"] == 1
    assert types["accounts.quota_released.v1"] == 1
    assert types["documents.content_deleted.v1"] == 1


async def test_progress_streams_as_server_sent_events_until_ready(pipeline: Pipeline) -> None:
    _, token = await pipeline.user("dee@example.com")
    async with pipeline.client(token) as http:
        _, location = await upload(http, "report.pdf", "application/pdf")
        events: list[tuple[str, dict[str, Any]]] = []
        async with http.stream("GET", f"{location}/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            kind = ""
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    kind = line.removeprefix("event:").strip()
                elif line.startswith("data:"):
                    events.append((kind, json.loads(line.removeprefix("data:").strip())))
    kinds = [k for k, _ in events]
    assert kinds[-1] == "end"
    assert events[-1][1] == {"status": "ready"}
    assert "progress" in kinds
    statuses = [data["status"] for k, data in events if k == "status"]
    assert statuses[0] == "uploaded"
    assert "ready" in statuses
