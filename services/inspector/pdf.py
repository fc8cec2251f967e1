"""Reading a PDF with pypdf: its pages, their text, its metadata."""

from __future__ import annotations

import io
import logging
import zlib
from dataclasses import dataclass, field
from typing import Any

from pypdf import PasswordType, PdfReader
from pypdf.errors import PyPdfError

from services.inspector.models import InspectionError

log = logging.getLogger("services.inspector")

MALFORMED = (
    PyPdfError,
    # pypdf reports some broken structures (a wrong object type where a dictionary
    # should be, a missing key, a cut stream) as the built-in errors it ran into, not
    # as its own; the input is just as unreadable and trying again changes nothing.
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    AssertionError,
    RecursionError,
    zlib.error,
)
"""What pypdf raises on bytes it cannot read: a corrupt file, not a fault of ours."""

_METADATA = {"/Title": "title", "/Author": "author", "/Producer": "producer"}


@dataclass(frozen=True, slots=True)
class PdfContent:
    """What a PDF holds.

    Attributes:
        page_count: Pages in the document.
        text: The text of every page, pages separated by a blank line (cut at the limit).
        truncated: The text was cut at the limit (the remaining pages were not read).
        details: Metadata worth keeping: the PDF version, title, author, producer.
    """

    page_count: int
    text: str
    truncated: bool
    details: dict[str, Any] = field(default_factory=dict)


def read_pdf(data: bytes, *, max_chars: int) -> PdfContent:
    """Count the pages of a PDF and extract their text, up to ``max_chars`` characters.

    Raises:
        InspectionError: The bytes are not a PDF pypdf can read, or it is encrypted.
    """
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise InspectionError("the PDF is encrypted with a password")
        page_count = len(reader.pages)
        texts: list[str] = []
        chars = 0
        truncated = False
        for page in reader.pages:
            if chars >= max_chars:
                truncated = True
                break
            text = page.extract_text()
            texts.append(text)
            chars += len(text) + 2
        details = _details(reader)
    except InspectionError:
        raise
    except MALFORMED as exc:
        log.info("pypdf cannot read the PDF: %s: %s", type(exc).__name__, exc)
        raise InspectionError(f"the PDF is corrupt or unreadable ({_describe(exc)})") from exc
    text = "\n\n".join(texts)
    if len(text) > max_chars:
        text, truncated = text[:max_chars], True
    if page_count == 0:
        raise InspectionError("the PDF has no pages")
    return PdfContent(page_count=page_count, text=text, truncated=truncated, details=details)


def _details(reader: PdfReader) -> dict[str, Any]:
    details: dict[str, Any] = {"pdf_version": reader.pdf_header.removeprefix("%PDF-")}
    metadata = reader.metadata
    if metadata is not None:
        for key, name in _METADATA.items():
            value = metadata.get(key)
            if isinstance(value, str) and value.strip():
                details[name] = value.strip()[:500]
    return details


def _describe(exc: BaseException) -> str:
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
