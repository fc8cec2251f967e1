"""Making a client's file name safe to store and show."""

from __future__ import annotations

import unicodedata

_MAX = 255


def sanitise_filename(raw: str | None) -> str:
    """The last path segment, NFC-normalised, without control or separator characters,
    at most 255 characters; ``upload`` if nothing is left.

    >>> sanitise_filename("../../etc/passwd")
    'passwd'
    >>> sanitise_filename("C:\\\\Users\\\\me\\\\Bericht über.txt")
    'Bericht über.txt'
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = name.strip().lstrip(".").strip()
    if len(name) > _MAX:
        stem, dot, suffix = name.rpartition(".")
        name = (stem[: _MAX - len(suffix) - 1] + dot + suffix) if dot and len(suffix) < 16 else ""
        name = name or (stem or suffix)[:_MAX]
    return name or "upload"
