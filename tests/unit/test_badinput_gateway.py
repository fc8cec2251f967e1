"""The gateway's reading of bad uploads, and its JSON for errors nobody planned, without
servers (the real HTTP path is in ``tests/system/test_badinput_uploads.py``)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from starlette.datastructures import Headers

from services.gateway.errors import ApiError, install_error_handlers
from services.gateway.uploads import _Form, media_type

BOUNDARY = "chorus-test-boundary"
LIMIT = 1024


def form() -> _Form:
    return _Form(Headers({"content-type": f"multipart/form-data; boundary={BOUNDARY}"}), LIMIT)


def part(filename: bytes = b"a.txt", content: bytes = b"hello") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
        + filename
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + content
        + b"\r\n"
    )


CLOSE = f"--{BOUNDARY}--\r\n".encode()


def read(body: bytes, chunk: int) -> None:
    reading = form()
    for start in range(0, len(body), chunk):
        reading.feed(body[start : start + chunk])
    reading.end()


def refusal(body: bytes, *, chunk: int = 7) -> ApiError:
    """What reading ``body`` (in chunks of ``chunk`` bytes) is refused with."""
    with pytest.raises(ApiError) as refused:
        read(body, chunk)
    return refused.value


def test_a_well_formed_form_is_read_whole_in_any_chunking() -> None:
    for chunk in (1, 3, 64, 4096):
        reading, body = form(), part() + CLOSE
        received = b""
        for start in range(0, len(body), chunk):
            reading.feed(body[start : start + chunk])
            while reading.file.pending:
                received += reading.file.pending.popleft()
        reading.end()
        assert received == b"hello"
        assert reading.file.parts == 1
        assert reading.file.multipart_filename == "a.txt"


def test_a_file_name_that_is_not_utf8_is_a_400() -> None:
    refused = refusal(part(filename=b"caf\xe9.txt") + CLOSE)
    assert (refused.status, refused.code) == (400, "invalid_multipart")
    assert "UTF-8" in refused.detail


def test_two_file_parts_are_a_400_not_one_blob() -> None:
    refused = refusal(part(content=b"hello") + part(content=b"world") + CLOSE)
    assert (refused.status, refused.code) == (400, "too_many_files")


@pytest.mark.parametrize(
    "body",
    [part()[:-2], part(), part() + f"--{BOUNDARY}\r\n".encode(), part() + CLOSE[:-4]],
    ids=["mid-file", "after-the-file", "an-unfinished-part", "half-a-closing-boundary"],
)
def test_a_body_that_ends_before_its_closing_boundary_is_a_400(body: bytes) -> None:
    refused = refusal(body)
    assert (refused.status, refused.code) == (400, "incomplete_upload")


def test_part_headers_past_the_framing_allowance_are_a_413_not_memory() -> None:
    refused = refusal(part(filename=b"x" * (LIMIT + 64 * 1024)), chunk=4096)
    assert (refused.status, refused.code) == (413, "too_large")


def test_an_empty_form_is_closed_at_once() -> None:
    reading = form()
    reading.feed(CLOSE)
    reading.end()
    assert reading.file.parts == 0


@pytest.mark.parametrize(
    "value",
    ["multipart/form-data; boundary=x", "MULTIPART/FORM-DATA; boundary=x", " Multipart/Form-Data"],
)
def test_media_types_are_case_insensitive(value: str) -> None:
    assert media_type(value) == "multipart/form-data"


async def test_an_unexpected_error_is_json_too() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        answer = await http.get("/boom")

    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == "internal_error"
    assert "a bug" not in answer.text, "no internals in the answer"
