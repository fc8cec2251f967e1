"""What can be said of an image without decoding it: libmagic's description."""

from __future__ import annotations

import re

# "PNG image data, 16 x 16, 8-bit/color RGB"; "JPEG image data, JFIF standard 1.01, …,
# density 72x72, …, precision 8, 640x480, components 3"; "… Web/P image, VP8 encoding,
# 16x16, Scaling: …". The image's own size is the last "W x H" (a JPEG's density comes first).
_SIZE = re.compile(r"\b(\d{1,6}) ?x ?(\d{1,6})\b")


def dimensions(description: str) -> tuple[int, int] | None:
    """``(width, height)`` from libmagic's description of an image, if it states them."""
    found = _SIZE.findall(description)
    if not found:
        return None
    width, height = found[-1]
    return int(width), int(height)
