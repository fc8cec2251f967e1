"""Malformed uploads get a JSON 4xx and leave nothing behind, over real HTTP to the
gateway the whole system runs (``tests/system/test_bad_requests.py`` has the rest)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from services.gateway.api import create_app
from services.gateway.api.protocol import GatewayHttpProtocol
from tests.system.conftest import Pipeline
from tests.system.test_bad_requests import nothing_left, refused

pytestmark = pytest.mark.timeout(120)

BOUNDARY = "chorus-badinput-boundary"
FORM = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
ONE_MB_HEADER = {"X-Padding": "a" * (1024 * 1024)}


def part(name: str = "file", filename: bytes = b"a.txt", content: bytes = b"hello") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="'.encode()
        + filename
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + content
        + b"\r\n"
    )


CLOSE = f"--{BOUNDARY}--\r\n".encode()


async def raw_request(port: int, request: bytes) -> bytes:
    """What the server answers to ``request``, sent as it is (no client would send it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()


async def test_malformed_forms_are_refused_in_json_and_leave_nothing_behind(
    pipeline: Pipeline,
) -> None:
    _, token = await pipeline.user("mal@example.com")
    async with pipeline.client(token) as http:

        async def post(body: bytes) -> httpx.Response:
            return await http.post("/documents", content=body, headers=FORM)

        refused(await post(part(filename=b"caf\xe9.txt") + CLOSE), 400, "invalid_multipart")
        two = part(content=b"hello ") + part(filename=b"b.txt", content=b"world") + CLOSE
        refused(await post(two), 400, "too_many_files")
        refused(await post(part(content=b"no closing boundary")), 400, "incomplete_upload")
        unfinished = part() + f"--{BOUNDARY}\r\n".encode()
        refused(await post(unfinished), 400, "incomplete_upload")

        async def streamed() -> AsyncIterator[bytes]:  # chunked: no Content-Length to judge
            yield part(content=b"")[:-2]
            for _ in range(8):
                yield b"z" * (16 * 1024)

        answer = await http.post("/documents", content=streamed(), headers=FORM)
        refused(answer, 400, "incomplete_upload")
    await nothing_left(pipeline)


async def test_the_media_type_is_read_in_any_case(pipeline: Pipeline) -> None:
    _, token = await pipeline.user("case@example.com")
    shouted = {"Content-Type": f"MULTIPART/FORM-DATA; BOUNDARY={BOUNDARY}"}
    async with pipeline.client(token) as http:
        answer = await http.post("/documents", content=part() + CLOSE, headers=shouted)
        assert answer.status_code == 202, answer.text
        assert (await http.get(answer.json()["location"])).status_code == 200
    [blob] = pipeline.stored_blobs()
    assert blob.read_bytes() == b"hello"


async def test_a_one_megabyte_header_gets_a_json_431_from_the_running_gateway(
    pipeline: Pipeline,
) -> None:
    _, token = await pipeline.user("big@example.com")
    async with pipeline.client(token) as http:
        answer = await http.post("/documents", content=part() + CLOSE, headers=FORM | ONE_MB_HEADER)
    refused(answer, 431, "headers_too_large")
    await nothing_left(pipeline)


async def test_a_header_too_large_gets_json_from_the_gateway_protocol(pipeline: Pipeline) -> None:
    """The gateway's own app, served by uvicorn with :class:`GatewayHttpProtocol`."""
    gateway = pipeline.gateway.gateway
    assert gateway is not None
    config = uvicorn.Config(
        create_app(gateway), host="127.0.0.1", port=0, log_level="warning", lifespan="off",
        http=GatewayHttpProtocol,
    )  # fmt: skip
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "uvicorn did not start"
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        _, token = await pipeline.user("huge@example.com")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            answer = await http.post(
                "/documents", content=part() + CLOSE, headers=headers | FORM | ONE_MB_HEADER
            )
            refused(answer, 431, "headers_too_large")
            garbled = await raw_request(port, b"GET /documents HTTP/1.1\r\nBad Header: x\r\n\r\n")
            assert garbled.startswith(b"HTTP/1.1 400 "), garbled
            assert b'"error": "invalid_http"' in garbled
            assert (await http.get("/documents", headers=headers)).status_code == 200
    finally:
        server.should_exit = True
        await serving
    await nothing_left(pipeline)
