"""The gateway's OpenAPI document, without servers: docs/openapi.json is the one the code
generates, it declares what the gateway really takes and sends, and the application's
HTTP niceties (gzip, ``Allow`` on 405) hold. Conformance against the running gateway is
``tests/system/test_openapi_conformance.py``."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.gateway.api.main import GZIP_MINIMUM_SIZE, build_app
from services.gateway.openapi import main, openapi_document, render
from services.gateway.uploads import FILE_FIELD

DOCS = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def test_the_committed_document_is_the_generated_one() -> None:
    assert DOCS.read_text(encoding="utf-8") == render(), "run `make docs` and commit docs/"


def test_the_export_writes_the_document(tmp_path: Path) -> None:
    main([str(tmp_path / "openapi.json")])
    assert json.loads((tmp_path / "openapi.json").read_text()) == openapi_document()
    with pytest.raises(SystemExit, match="usage"):
        main(["a", "b"])


def test_the_upload_declares_its_multipart_body() -> None:
    document = openapi_document()
    upload = operations(document)["POST /documents"]
    body = upload["requestBody"]
    assert body["required"] is True
    assert body["content"] == {
        "multipart/form-data": {"schema": {"$ref": "#/components/schemas/DocumentUpload"}}
    }
    schema = document["components"]["schemas"]["DocumentUpload"]
    assert schema["required"] == [FILE_FIELD]  # the field the handler reads
    assert schema["properties"][FILE_FIELD]["format"] == "binary"
    assert upload["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Accepted"
    }
    assert upload["responses"]["202"]["headers"]["Location"]["required"] is True
    assert set(upload["responses"]) == {"202", "400", "401", "403", "413", "415", "422", "503"}


def test_every_error_is_the_one_error_schema() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    assert set(schemas["Error"]["properties"]) == {"error", "detail"}
    assert "HTTPValidationError" not in schemas
    errors = 0
    for name, operation in operations(document).items():
        for status, response in operation["responses"].items():
            if int(status) >= 400 and name != "GET /healthz":
                assert response["content"] == {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                }, (name, status)
                errors += 1
    assert errors >= 19
    token = operations(document)["POST /auth/token"]["responses"]
    assert token["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}


def test_the_event_stream_is_declared_as_server_sent_events() -> None:
    events = operations(openapi_document())["GET /documents/{document_id}/events"]
    content = events["responses"]["200"]["content"]
    assert list(content) == ["text/event-stream"]
    item = content["text/event-stream"]["itemSchema"]
    assert item["properties"]["event"]["enum"] == ["status", "progress", "end"]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The application in process: only routes that need no gateway are called."""
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


async def test_large_json_is_gzipped_for_clients_that_accept_it(http: httpx.AsyncClient) -> None:
    plain = await http.get("/openapi.json", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert len(plain.content) > GZIP_MINIMUM_SIZE
    request = http.build_request("GET", "/openapi.json", headers={"Accept-Encoding": "gzip"})
    zipped = await http.send(request, stream=True)
    raw = b"".join([chunk async for chunk in zipped.aiter_raw()])
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert len(raw) < len(plain.content) / 3
    assert json.loads(gzip.decompress(raw)) == plain.json() == openapi_document()

    small = await http.get("/nowhere", headers={"Accept-Encoding": "gzip"})
    assert small.status_code == 404
    assert "content-encoding" not in small.headers
    assert len(small.content) < GZIP_MINIMUM_SIZE


async def test_a_wrong_method_names_every_method_of_the_path(http: httpx.AsyncClient) -> None:
    answer = await http.request("OPTIONS", "/documents")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD, POST"
    assert answer.json()["error"] == "method_not_allowed"
    answer = await http.delete("/healthz")
    assert answer.headers["allow"] == "GET, HEAD"
