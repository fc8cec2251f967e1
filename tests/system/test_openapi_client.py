"""A client generated from the gateway's OpenAPI document (openapi-python-client) works:
it gets a token, uploads a file, reads the document back until it is ready, and reads the
gateway's errors as the document's ``Error`` instead of crashing on them."""

from __future__ import annotations

import asyncio
import importlib
import io
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import uuid4

import pytest

from tests.system.conftest import SAMPLES, Pipeline

pytestmark = pytest.mark.timeout(120)

PACKAGE = "chorus_client"


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[Path]:
    """Where the client is generated; its modules are forgotten after the test."""
    into = tmp_path / "generated"
    into.mkdir()
    (into / "config.yaml").write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    yield into
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


async def generate_client(pipeline: Pipeline, into: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Generate a client from the document the running gateway serves, and import it."""
    process = await asyncio.create_subprocess_exec(
        Path(sys.executable).with_name("openapi-python-client"), "generate",
        "--url", f"{pipeline.url}/openapi.json", "--config", "config.yaml", "--meta", "none",
        "--output-path", PACKAGE, "--fail-on-warning",
        cwd=into, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, output.decode()
    monkeypatch.syspath_prepend(str(into))
    return importlib.import_module(PACKAGE)


def module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


async def test_a_generated_client_uploads_and_reads_a_document_until_ready(
    pipeline: Pipeline, generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, _ = await pipeline.user("generated@example.com")
    client = await generate_client(pipeline, generated, monkeypatch)
    models, types = module("models"), module("types")
    issue_token, upload = module("api.auth.issue_token"), module("api.documents.upload")
    get_document = module("api.documents.get_document")
    list_mine = module("api.documents.list_mine")

    anonymous = client.Client(base_url=pipeline.url)
    granted = await issue_token.asyncio(
        client=anonymous, body=models.TokenRequest(api_key=user.api_key)
    )
    assert isinstance(granted, models.TokenGranted), granted
    api = client.AuthenticatedClient(base_url=pipeline.url, token=granted.access_token)

    data = (SAMPLES / "english.txt").read_bytes()
    file = types.File(payload=io.BytesIO(data), file_name="english.txt", mime_type="text/plain")
    sent = await upload.asyncio_detailed(client=api, body=models.DocumentUpload(file=file))
    assert sent.status_code == 202, sent.content
    accepted = sent.parsed
    assert isinstance(accepted, models.Accepted), accepted
    assert sent.headers["location"] == accepted.location

    deadline = time.monotonic() + 60
    document = await get_document.asyncio(client=api, document_id=accepted.document_id)
    while document.status != "ready":
        assert isinstance(document, models.DocumentView), document
        assert document.status not in ("rejected", "failed"), document
        assert time.monotonic() < deadline, f"not ready in 60 s: {document}"
        document = await get_document.asyncio(client=api, document_id=accepted.document_id, wait=5)
    assert document.filename == "english.txt"
    assert document.size_bytes == len(data)
    assert document.language == "en"
    assert [mine.id for mine in await list_mine.asyncio(client=api)] == [accepted.document_id]

    # The gateway's errors parse as the document's Error (FastAPI's default 422 model did not).
    empty = types.File(payload=io.BytesIO(b""), file_name="empty.txt", mime_type="text/plain")
    refused = await upload.asyncio(client=api, body=models.DocumentUpload(file=empty))
    assert isinstance(refused, models.Error), refused
    assert refused.error == "empty_file"
    missing = await get_document.asyncio(client=api, document_id=uuid4())
    assert isinstance(missing, models.Error), missing
    assert missing.error == "not_found"
    stranger = client.AuthenticatedClient(base_url=pipeline.url, token="not-a-token")
    unknown = await list_mine.asyncio(client=stranger)
    assert isinstance(unknown, models.Error), unknown
    assert unknown.error == "invalid_token"
