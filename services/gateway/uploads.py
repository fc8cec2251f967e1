"""Receiving a multipart upload straight into storage, enforcing the size limit as it streams."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

from starlette.requests import ClientDisconnect, Request
from streaming_form_data import StreamingFormDataParser
from streaming_form_data.parser import ParseFailedException
from streaming_form_data.targets import BaseTarget

from services.gateway.errors import ApiError
from services.gateway.filenames import sanitise_filename
from services.storage import BlobStorage

FILE_FIELD = "file"
_FORM_OVERHEAD = 16 * 1024
"""Bytes of multipart framing allowed on top of the file when judging Content-Length."""


@dataclass(frozen=True)
class ReceivedFile:
    """A stored upload."""

    url: str
    size: int
    filename: str
    declared_type: str


class _Chunks(BaseTarget):  # type: ignore[misc]  # the library ships no type hints
    """Hands the file part's bytes over as they are parsed."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: deque[bytes] = deque()
        self.size = 0
        self.seen = False

    def on_start(self) -> None:
        self.seen = True

    def on_data_received(self, chunk: bytes) -> None:
        self.pending.append(chunk)
        self.size += len(chunk)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"the file is larger than the limit of {limit} bytes")


async def receive_upload(
    request: Request, storage: BlobStorage, document_id: UUID, *, limit: int
) -> ReceivedFile:
    """Stream the ``file`` field of a multipart request into ``storage``.

    Refuses with 413 before reading when Content-Length already says too much,
    and stops reading as soon as the file passes ``limit``. On any refusal the
    partly written blob is removed.
    """
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        detail = f"send the file as multipart/form-data in a field named {FILE_FIELD!r}"
        raise ApiError(415, "unsupported_media_type", detail)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + _FORM_OVERHEAD:
        raise _too_large(limit)
    try:
        parser = StreamingFormDataParser(headers=request.headers)
    except ParseFailedException as exc:
        raise ApiError(400, "invalid_multipart", str(exc)) from None
    target = _Chunks()
    parser.register(FILE_FIELD, target)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for data in request.stream():
                try:
                    parser.data_received(data)
                except ParseFailedException as exc:
                    raise ApiError(400, "invalid_multipart", str(exc)) from None
                if target.size > limit:
                    raise _too_large(limit)
                while target.pending:
                    yield target.pending.popleft()
        except ClientDisconnect:
            raise ApiError(400, "incomplete_upload", "the client went away mid-upload") from None

    url, size = await storage.write(document_id, chunks())
    problem: ApiError | None = None
    if not target.seen:
        problem = ApiError(422, "missing_file", f"the form has no file field {FILE_FIELD!r}")
    elif size == 0:
        problem = ApiError(422, "empty_file", "the file is empty")
    if problem is not None:
        with contextlib.suppress(FileNotFoundError):
            await storage.delete(url)
        raise problem
    return ReceivedFile(
        url=url,
        size=size,
        filename=sanitise_filename(target.multipart_filename),
        declared_type=target.multipart_content_type or "application/octet-stream",
    )
