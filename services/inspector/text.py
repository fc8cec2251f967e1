"""Turning a text file's bytes into a string, and counting its words.

Decoding order: a byte-order mark (UTF-8, UTF-16, UTF-32) wins; then strict UTF-8
(ASCII included); then the encoding libmagic reports, if Python knows it; then
Windows-1252, which maps every byte but five; then Latin-1, which maps all of them.
Known limit: without a charset detector (charset-normalizer is not a dependency yet),
an 8-bit text in another code page, say Windows-1251 Cyrillic, is decoded as
Windows-1252 and comes out as Latin-looking letters.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from services.inspector.content import text_encoding

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)  # UTF-32 LE starts with the UTF-16 LE mark, so it is checked first.

_LIBMAGIC_NOT_AN_ENCODING = frozenset({"binary", "unknown-8bit", "us-ascii", "utf-8"})


@dataclass(frozen=True, slots=True)
class Decoded:
    """A text and the encoding it was read with (a Python codec name)."""

    text: str
    encoding: str


def decode(data: bytes) -> Decoded:
    """Decode a text file's bytes, never failing: see the module docstring for the order."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(data.decode(encoding), encoding)
            except UnicodeDecodeError:
                break  # a mark followed by something else: try the rest
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    for candidate in (_known_codec(text_encoding(data)), "cp1252"):
        if candidate is None:
            continue
        try:
            return Decoded(data.decode(candidate), candidate)
        except UnicodeDecodeError:
            continue
    return Decoded(data.decode("latin-1"), "latin-1")


def _known_codec(name: str) -> str | None:
    if name in _LIBMAGIC_NOT_AN_ENCODING:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def count_words(text: str) -> int:
    """Whitespace-separated words, as ``len(text.split())`` counts them."""
    return len(text.split())
