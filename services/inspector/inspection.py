"""Inspecting a document's bytes, step by step, without the bus.

The steps are separate so that the inspector's job can report progress between them
(and run each in a worker thread); :func:`inspect_bytes` runs them all in a row.
Expected failures (empty, too large, unsupported, corrupt) raise
:class:`~services.inspector.models.InspectionError`; anything else is a bug or a fault.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from services.inspector.config import InspectorSettings
from services.inspector.content import Sniffed, sniff
from services.inspector.image import dimensions
from services.inspector.language import detect_language
from services.inspector.models import Inspection, InspectionError
from services.inspector.pdf import read_pdf
from services.inspector.text import count_words, decode

SUPPORTED = "text, PDF, and PNG, JPEG, GIF, WebP, BMP or TIFF images"


@dataclass(frozen=True, slots=True)
class Extracted:
    """The text of a document (None for an image), its pages (PDF only) and extras."""

    text: str | None
    page_count: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def identify(data: bytes, config: InspectorSettings) -> Sniffed:
    """What the bytes are, from libmagic alone.

    Raises:
        InspectionError: Empty, larger than ``config.max_bytes``, or of an unsupported type.
    """
    if not data:
        raise InspectionError("the file is empty")
    if len(data) > config.max_bytes:
        raise InspectionError(
            f"the file is too large to inspect ({len(data)} bytes, at most {config.max_bytes})"
        )
    sniffed = sniff(data)
    if not sniffed.is_supported:
        raise InspectionError(
            f"unsupported content type {sniffed.content_type} ({sniffed.description}); "
            f"supported: {SUPPORTED}"
        )
    return sniffed


def extract(data: bytes, sniffed: Sniffed, config: InspectorSettings) -> Extracted:
    """The text of a text file or a PDF; an image's dimensions.

    Raises:
        InspectionError: A PDF that pypdf cannot read, or an encrypted one.
    """
    if sniffed.is_pdf:
        pdf = read_pdf(data, max_chars=config.max_text_chars)
        details = dict(pdf.details)
        if pdf.truncated:
            details["text_truncated"] = True
        return Extracted(text=pdf.text, page_count=pdf.page_count, details=details)
    if sniffed.is_text:
        decoded = decode(data)
        details = {"encoding": decoded.encoding}
        text = decoded.text
        if len(text) > config.max_text_chars:
            text = text[: config.max_text_chars]
            details["text_truncated"] = True
        return Extracted(text=text, details=details)
    size = dimensions(sniffed.description)
    return Extracted(text=None, details={"width": size[0], "height": size[1]} if size else {})


def summarize(
    data: bytes,
    filename: str,
    sniffed: Sniffed,
    extracted: Extracted,
    language: str | None,
) -> Inspection:
    """The :class:`Inspection` of what the steps found."""
    details: dict[str, Any] = {"description": sniffed.description, **extracted.details}
    by_name, _ = mimetypes.guess_type(PurePosixPath(filename).name, strict=False)
    if by_name is not None:
        details["type_by_name"] = by_name  # what the name suggests; it decides nothing
    if extracted.text is not None:
        details["chars"] = len(extracted.text)
    return Inspection(
        content_type=sniffed.content_type,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        language=language,
        word_count=count_words(extracted.text) if extracted.text is not None else None,
        page_count=extracted.page_count,
        details=details,
    )


def inspect_bytes(
    data: bytes, filename: str, *, config: InspectorSettings | None = None
) -> Inspection:
    """Find out what a document's bytes are: type, digest, size, language, words, pages.

    Synchronous and CPU-bound (libmagic, pypdf, lingua): call it from a thread in
    async code. The type comes from the bytes (libmagic); ``filename`` only adds
    ``details["type_by_name"]``.

    Args:
        data: The document's bytes.
        filename: Its name, as uploaded.
        config: Limits and languages; default: from the environment.

    Raises:
        InspectionError: Empty, too large, unsupported type, or a corrupt or encrypted PDF.
    """
    config = config or InspectorSettings()
    sniffed = identify(data, config)
    extracted = extract(data, sniffed, config)
    language = detect_language(extracted.text, config) if extracted.text else None
    return summarize(data, filename, sniffed, extracted, language)
