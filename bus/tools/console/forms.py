"""The fields of a posted HTML form (``application/x-www-form-urlencoded``), read without
a multipart parser: the console's forms carry a few short text fields, never files."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, Request, status

LIMIT = 64 * 1024
"""Bytes a form may have."""

URLENCODED = "application/x-www-form-urlencoded"


async def form_fields(request: Request) -> dict[str, str]:
    """Each field's last value (a dependency; read once per request).

    Raises:
        HTTPException: 415 for another content type, 413 for a body over :data:`LIMIT`,
            400 for one that is not UTF-8.
    """
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != URLENCODED:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"a form must be {URLENCODED}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > LIMIT:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "form too large")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "a form must be UTF-8") from None
    try:  # percent-escapes may spell bytes that are no UTF-8 either
        parsed = parse_qs(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "a form must be UTF-8") from None
    return {name: values[-1] for name, values in parsed.items()}


Fields = Annotated[dict[str, str], Depends(form_fields)]


def field(fields: dict[str, str], name: str) -> str:
    """A required field's value.

    Raises:
        HTTPException: 400 if the form lacks it.
    """
    if name not in fields:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"the form has no {name}")
    return fields[name]
