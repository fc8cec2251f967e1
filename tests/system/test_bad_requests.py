"""The gateway refuses bad requests with the right status and a JSON error, and leaves
nothing behind: no stored bytes, no event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest

from bus.journal import JournalEntry
from contracts import DocumentContentDeleted
from services.accounts import Identity
from services.gateway.tokens import TokenStore
from tests.helpers import eventually
from tests.system.conftest import SAMPLES, UPLOAD_LIMIT, Pipeline

pytestmark = pytest.mark.timeout(120)


def refused(answer: httpx.Response, status: int, error: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["error"] == error, body
    assert body["detail"]


async def nothing_left(pipeline: Pipeline) -> None:
    """No bytes stored and no DocumentUploaded after the refusals. A refusal answers once the
    request is done with the bytes; the gateway publishes journal first, in order: once an
    event it publishes now is in the journal, one that a refused request sent would be too."""
    marker = await pipeline.gateway.publish(
        DocumentContentDeleted(document_id=uuid4(), storage_url="file:///nothing", reason="marker")
    )

    async def journaled() -> bool:
        return await JournalEntry.get(marker.id) is not None

    await eventually(journaled, what="the gateway's later event in the journal")
    assert pipeline.stored_blobs() == []
    assert await JournalEntry.find(JournalEntry.type == "documents.uploaded.v1").count() == 0


async def test_missing_unknown_and_expired_tokens_are_refused(pipeline: Pipeline) -> None:
    user, _ = await pipeline.user("eve@example.com")
    async with pipeline.client() as http:
        refused(await http.get("/documents"), 401, "unauthenticated")
        refused(
            await http.post("/auth/token", json={"api_key": "chorus_nope"}), 401, "invalid_api_key"
        )
        refused(await http.post("/auth/token", json={}), 422, "invalid_request")
    async with pipeline.client("not-a-token") as http:
        refused(await http.get("/documents"), 401, "invalid_token")

    stores = pipeline.gateway.replica.stores
    assert stores is not None
    tokens = TokenStore(stores.redis, ttl=1)
    short = await tokens.issue(Identity(user_id=user.user_id, email=user.email))
    async with pipeline.client(short) as http:
        assert (await http.get("/documents")).status_code == 200

        async def expired() -> bool:
            return await tokens.resolve(short) is None

        await eventually(expired, within=5, what="Redis to expire the token")
        refused(await http.get("/documents"), 401, "invalid_token")


async def test_someone_elses_document_is_not_found(pipeline: Pipeline) -> None:
    _, owner = await pipeline.user("fay@example.com")
    _, stranger = await pipeline.user("gus@example.com")
    async with pipeline.client(owner) as http:
        data = (SAMPLES / "english.txt").read_bytes()
        answer = await http.post("/documents", files={"file": ("a.txt", data, "text/plain")})
        location = answer.json()["location"]
        assert (await http.get(location)).status_code == 200
    async with pipeline.client(stranger) as http:
        refused(await http.get(location), 404, "not_found")
        refused(await http.get(f"{location}/events"), 404, "not_found")
        refused(await http.get("/documents/00000000-0000-0000-0000-000000000000"), 404, "not_found")
        refused(await http.get("/documents/not-a-uuid"), 422, "invalid_request")


async def test_bad_uploads_are_refused_and_leave_nothing_behind(pipeline: Pipeline) -> None:
    _, token = await pipeline.user("hal@example.com")
    too_big = b"x" * (UPLOAD_LIMIT + 1)
    async with pipeline.client(token) as http:
        # Content-Length says too much: refused before the body is read.
        answer = await http.post("/documents", files={"file": ("big.txt", too_big, "text/plain")})
        refused(answer, 413, "too_large")

        # No Content-Length (chunked): refused once the stream passes the limit.
        boundary = "chorus-test-boundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()

        async def body() -> AsyncIterator[bytes]:
            yield head
            for _ in range(64):
                yield b"y" * (16 * 1024)
            yield f"\r\n--{boundary}--\r\n".encode()

        answer = await http.post(
            "/documents",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        refused(answer, 413, "too_large")

        empty = await http.post("/documents", files={"file": ("empty.txt", b"", "text/plain")})
        refused(empty, 422, "empty_file")
        missing = await http.post("/documents", files={"other": ("a.txt", b"hello", "text/plain")})
        refused(missing, 422, "missing_file")
        not_a_form = await http.post(
            "/documents", content=b"hello", headers={"Content-Type": "text/plain"}
        )
        refused(not_a_form, 415, "unsupported_media_type")
    await nothing_left(pipeline)


async def test_a_user_without_documents_left_is_refused_before_the_upload(
    pipeline: Pipeline,
) -> None:
    _, token = await pipeline.user("ida@example.com", max_documents=0)
    async with pipeline.client(token) as http:
        data = (SAMPLES / "english.txt").read_bytes()
        answer = await http.post("/documents", files={"file": ("a.txt", data, "text/plain")})
        refused(answer, 403, "quota_exceeded")
    await nothing_left(pipeline)


async def test_health_and_openapi(pipeline: Pipeline) -> None:
    async with pipeline.client() as http:
        health = await http.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "checks": {"bus": True, "redis": True}}
        schema = (await http.get("/openapi.json")).json()
    assert {"/auth/token", "/documents", "/documents/{document_id}"} <= set(schema["paths"])
    assert "202" in schema["paths"]["/documents"]["post"]["responses"]
