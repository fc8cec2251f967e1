"""What ``GET /exports/{id}/download`` answers in, from the client's Accept header."""

from __future__ import annotations

import pytest

from services.gateway.api.routes.exports import _archive_type


@pytest.mark.parametrize(
    ("accept", "answered"),
    [
        (None, "application/gzip"),
        ("*/*", "application/gzip"),
        ("application/json", "application/gzip"),
        ("application/octet-stream", "application/octet-stream"),
        ("application/octet-stream;q=0.9, */*", "application/octet-stream"),
        ("application/octet-stream, application/gzip", "application/gzip"),
        ("APPLICATION/GZIP", "application/gzip"),
    ],
)
def test_the_archive_is_gzip_unless_only_octet_stream_is_accepted(
    accept: str | None, answered: str
) -> None:
    assert _archive_type(accept) == answered
