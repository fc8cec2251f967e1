"""What the bytes are, according to libmagic, and which of those the inspector reads.

Supported: every ``text/*`` type, ``application/json`` and ``application/xml`` (read as
text); ``application/pdf``; the images in :data:`IMAGE_TYPES`. Anything else (archives,
executables, office documents, unknown binary data) is refused with a reason.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Final

import magic

TEXT_LIKE_TYPES: Final = frozenset({"application/json", "application/xml"})
"""Types outside ``text/*`` whose bytes are text all the same."""

PDF_TYPE: Final = "application/pdf"

IMAGE_TYPES: Final = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/tiff"}
)
"""Images the inspector accepts; it reports their type and libmagic's description only."""


@dataclass(frozen=True, slots=True)
class Sniffed:
    """libmagic's verdict on a buffer.

    Attributes:
        content_type: The MIME type, e.g. ``text/plain``.
        description: The human description, e.g. ``PNG image data, 16 x 16, 8-bit/color RGB``.
    """

    content_type: str
    description: str

    @property
    def is_text(self) -> bool:
        return self.content_type.startswith("text/") or self.content_type in TEXT_LIKE_TYPES

    @property
    def is_pdf(self) -> bool:
        return self.content_type == PDF_TYPE

    @property
    def is_image(self) -> bool:
        return self.content_type in IMAGE_TYPES

    @property
    def is_supported(self) -> bool:
        return self.is_text or self.is_pdf or self.is_image


_encoding_magic: magic.Magic | None = None
_encoding_lock = threading.Lock()


def sniff(data: bytes) -> Sniffed:
    """Ask libmagic what ``data`` is (its module-level instances lock around each call)."""
    return Sniffed(
        content_type=magic.from_buffer(data, mime=True),
        description=magic.from_buffer(data),
    )


def text_encoding(data: bytes) -> str:
    """libmagic's guess at a text's encoding: ``us-ascii``, ``utf-8``, ``iso-8859-1``,
    ``utf-16le``, ``unknown-8bit``, ``binary``…"""
    global _encoding_magic  # noqa: PLW0603 - one libmagic handle per process, made on first use
    with _encoding_lock:
        if _encoding_magic is None:
            _encoding_magic = magic.Magic(mime_encoding=True)
    return _encoding_magic.from_buffer(data)
