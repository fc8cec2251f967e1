"""What an inspection finds, and the expected ways it fails."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class InspectionError(Exception):
    """The document cannot be inspected, for a reason its owner can be told.

    Raised for what the bytes are (empty, corrupt, unsupported, too large), never for
    a fault of the inspector or its stores: retrying would give the same answer.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Inspection:
    """What the bytes of one document are.

    Attributes:
        content_type: Detected from the bytes by libmagic; the declared type plays no part.
        sha256: Hex digest of the bytes.
        size_bytes: Number of bytes.
        language: ISO 639-1 code (``"en"``) of the text, or None (no text, too little
            of it, or no language stood out).
        word_count: Whitespace-separated words of the text; None for images.
        page_count: Pages of a PDF; None otherwise.
        details: Type-specific extras: libmagic's description, the text encoding,
            image dimensions, PDF metadata.
    """

    content_type: str
    sha256: str
    size_bytes: int
    language: str | None = None
    word_count: int | None = None
    page_count: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
