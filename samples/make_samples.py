"""Build the binary samples: ``report.pdf``, ``pixel.png`` and ``corrupt.pdf``.

Run from the repository root: ``.venv/bin/python samples/make_samples.py``. The output is
byte-for-byte the same on every run (no timestamps), so the committed files only change
when this script does. Standard library only: the PDF is written by hand, with its xref
offsets counted as it is written; the PNG is zlib-compressed rows and CRC'd chunks.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

PAGES = [
    [
        "Quarterly Report on the Community Library",
        "",
        "This report describes how the library was used during the last three months.",
        "More people borrowed books than in the same period of the previous year, and the",
        "reading room was often full on weekday afternoons. The children's corner was",
        "repainted by volunteers, and the new shelves arrived two weeks earlier than planned.",
        "The staff also started a small reading club for teenagers, which meets every Friday.",
    ],
    [
        "Plans for the Next Quarter",
        "",
        "We would like to extend the opening hours on Saturday and to offer a short course",
        "for older visitors who want to learn how to use the computers. The budget allows",
        "for one more part-time assistant. We thank everyone who donated books, time or",
        "money, and we hope to see many of you at the open day at the end of the summer.",
    ],
]


def _pdf_text(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"({escaped})"


def _content_stream(lines: list[str]) -> bytes:
    ops = ["BT", "/F1 12 Tf", "16 TL", "72 720 Td"]
    for line in lines:
        ops.append(f"{_pdf_text(line)} Tj T*")
    ops.append("ET")
    return "\n".join(ops).encode("latin-1")


def build_pdf(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF 1.7: catalog, page tree, one Helvetica font, one page per list."""
    n = len(pages)
    # Objects: 1 catalog, 2 page tree, 3 font, then (page, contents) pairs.
    page_ids = [4 + 2 * i for i in range(n)]
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: (
            f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] /Count {n} >>"
        ).encode(),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    }
    for page_id, lines in zip(page_ids, pages, strict=True):
        stream = _content_stream(lines)
        objects[page_id] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>"
        ).encode()
        objects[page_id + 1] = (
            f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream"
        )

    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n".encode() + objects[number] + b"\nendobj\n"
    xref_at = len(out)
    size = max(objects) + 1
    out += f"xref\n0 {size}\n".encode()
    out += b"0000000000 65535 f \n"
    for number in range(1, size):
        out += f"{offsets[number]:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(out)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def build_png(width: int = 16, height: int = 16) -> bytes:
    """An 8-bit RGB PNG: a diagonal gradient."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            rows += bytes((x * 255 // (width - 1), y * 255 // (height - 1), 128))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _chunk(b"IEND", b"")
    )


def build_corrupt_pdf(size: int = 2048) -> bytes:
    """A PDF header followed by deterministic noise: libmagic says PDF, no reader can parse it."""
    noise = bytearray()
    block = b"chorus"
    while len(noise) < size:
        block = hashlib.sha256(block).digest()
        noise += block
    return b"%PDF-1.7\n" + bytes(noise[:size])


def main() -> None:
    for name, data in (
        ("report.pdf", build_pdf(PAGES)),
        ("pixel.png", build_png()),
        ("corrupt.pdf", build_corrupt_pdf()),
    ):
        (HERE / name).write_bytes(data)
        print(f"wrote samples/{name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
