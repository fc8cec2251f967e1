"""Small tools the tests share."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from contracts import DocumentUploaded


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], *, within: float = 20.0, what: str = "condition"
) -> None:
    """Wait until ``check()`` holds; fail the test with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


def uploaded(n: int = 0, owner: str = "alice") -> DocumentUploaded:
    """A valid DocumentUploaded, distinct per ``n``."""
    return DocumentUploaded(
        document_id=uuid.uuid4(),
        owner=owner,
        filename=f"file-{n}.txt",
        size_bytes=100 + n,
        content_type="text/plain",
        storage_url=f"file:///tmp/chorus/{n}.txt",
    )
