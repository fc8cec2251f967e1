"""Receiving a multipart upload straight into storage, enforcing the size limit as it streams."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from streaming_form_data import StreamingFormDataParser
from streaming_form_data.parser import ParseFailedException, parse_content_boundary
from streaming_form_data.targets import BaseTarget

from services.gateway.errors import ApiError
from services.gateway.filenames import sanitise_filename
from services.i18n import Message, _
from services.storage import BlobStorage

FILE_FIELD = "file"
MEDIA_TYPE = "multipart/form-data"
_FORM_OVERHEAD = 16 * 1024
"""Bytes of multipart framing allowed on top of the file: when judging Content-Length, and
for the whole body as it streams (part headers, other fields)."""


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
        self.parts = 0

    def on_start(self) -> None:
        self.parts += 1

    def on_data_received(self, chunk: bytes) -> None:
        self.pending.append(chunk)
        self.size += len(chunk)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, "too_large", _("the file is larger than the limit of {limit} bytes", limit=limit)
    )


def _invalid(detail: str | Message) -> ApiError:
    return ApiError(400, "invalid_multipart", detail)


def media_type(content_type: str) -> str:
    """The media type of a Content-Type value, without parameters, in lower case (media
    types are case-insensitive: RFC 9110, section 8.3.1).

    >>> media_type("MULTIPART/Form-Data; boundary=x")
    'multipart/form-data'
    """
    return content_type.partition(";")[0].strip().lower()


class _Form:
    """A multipart body as it streams in: the file part's bytes, and every way the form
    can be wrong, raised as the API's error as soon as it shows."""

    def __init__(self, headers: Headers, limit: int) -> None:
        try:
            boundary = parse_content_boundary(headers)
            self._parser = StreamingFormDataParser(headers=headers)
        except ParseFailedException as exc:
            raise _invalid(str(exc)) from None
        self.file = _Chunks()
        self._parser.register(FILE_FIELD, self.file)
        self._limit = limit
        self._read = 0
        # The close delimiter (RFC 2046, section 5.1.1); the CRLF before the first
        # boundary is part of it too, so an empty form closes at once.
        self._closing = b"\r\n--" + boundary + b"--"
        self._tail = b"\r\n"
        self.closed = False

    def feed(self, data: bytes) -> None:
        """Parse the next bytes of the body."""
        self._read += len(data)
        if self._read > self._limit + _FORM_OVERHEAD:
            raise _too_large(self._limit)  # the file, or framing no form needs
        if not self.closed:
            window = self._tail + data
            self.closed = self._closing in window
            self._tail = window[-(len(self._closing) - 1) :]
        try:
            self._parser.data_received(data)
        except UnicodeDecodeError:
            detail = _(
                "a part's headers are not UTF-8: send the file name in UTF-8 "
                "(or as filename*=UTF-8''... with percent-encoding)"
            )
            raise _invalid(detail) from None
        except (ParseFailedException, ValueError) as exc:  # the parser's own header parsing
            raise _invalid(_("the multipart body cannot be read: {problem}", problem=exc)) from None
        if self.file.parts > 1:
            detail = _("send one file per upload in {field!r}", field=FILE_FIELD)
            raise ApiError(400, "too_many_files", detail)
        if self.file.size > self._limit:
            raise _too_large(self._limit)

    def end(self) -> None:
        """The body is over: it must have closed the form."""
        if not self.closed:
            raise ApiError(
                400, "incomplete_upload", _("the body ends before the form's closing boundary")
            )


async def receive_upload(
    request: Request, storage: BlobStorage, document_id: UUID, *, limit: int
) -> ReceivedFile:
    """Stream the ``file`` field of a multipart request into ``storage``.

    Refuses with 415 what is not ``multipart/form-data`` (in any case), with 413 before
    reading when Content-Length already says too much, and stops reading as soon as the
    file passes ``limit``. A body that cannot be parsed (part headers not UTF-8, say),
    holds more than one file or ends before its closing boundary is refused with 400.
    On any refusal the partly written blob is removed.
    """
    if media_type(request.headers.get("content-type", "")) != MEDIA_TYPE:
        detail = _(
            "send the file as {media_type} in a field named {field!r}",
            media_type=MEDIA_TYPE, field=FILE_FIELD,
        )  # fmt: skip
        raise ApiError(415, "unsupported_media_type", detail)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + _FORM_OVERHEAD:
        raise _too_large(limit)
    form = _Form(request.headers, limit)

    async def chunks() -> AsyncIterator[bytes]:
        # Raising here, before the last chunk, makes the storage drop what it wrote.
        try:
            async for data in request.stream():
                form.feed(data)
                while form.file.pending:
                    yield form.file.pending.popleft()
        except ClientDisconnect:
            detail = _("the client went away mid-upload")
            raise ApiError(400, "incomplete_upload", detail) from None
        form.end()

    url, size = await storage.write(document_id, chunks())
    problem: ApiError | None = None
    if not form.file.parts:
        detail = _("the form has no file field {field!r}", field=FILE_FIELD)
        problem = ApiError(422, "missing_file", detail)
    elif size == 0:
        problem = ApiError(422, "empty_file", _("the file is empty"))
    if problem is not None:
        with contextlib.suppress(FileNotFoundError):
            await storage.delete(url)
        raise problem
    return ReceivedFile(
        url=url,
        size=size,
        filename=sanitise_filename(form.file.multipart_filename),
        declared_type=form.file.multipart_content_type or "application/octet-stream",
    )
