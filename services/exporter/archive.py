"""Writing a tar.gz as a stream: each document's bytes read in chunks and compressed as
they come, so an archive of any size takes a few chunks of memory.

Plain and synchronous (``tarfile`` in stream mode ``w|gz``): the job calls it in a
thread, one document at a time, and reports progress between documents.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

_EXTENSION_CHARS = 16


class _Digesting:
    """A write-only file that counts and hashes what passes through to ``out``."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.size = 0
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.out.write(data)


@dataclass(frozen=True, slots=True)
class Written:
    """A finished archive: its size and SHA-256, and the names it holds in order."""

    size_bytes: int
    sha256: str
    names: tuple[str, ...]


class ArchiveWriter:
    """A tar.gz streamed to ``out``: :meth:`add` each file, then :meth:`close`.

    Members go under ``folder/`` (extracting it makes one folder, not a spill of files)
    with names that are unique within the archive, case ignored (two documents
    called ``report.pdf`` become ``report.pdf`` and ``report (2).pdf``). Memory stays
    at about three chunks: tarfile copies ``chunk_size`` bytes at a time and its gzip
    stream flushes once it holds more than ``chunk_size``.
    """

    def __init__(self, out: BinaryIO, folder: str, *, chunk_size: int = 64 * 1024) -> None:
        self._out = _Digesting(out)
        self.folder = folder
        self.names = UniqueNames()
        # tarfile only calls write() on its file object; close() closes it, across calls.
        self._tar = tarfile.open(  # type: ignore[call-overload]  # noqa: SIM115
            fileobj=self._out,
            mode="w|gz",
            bufsize=chunk_size,
            format=tarfile.PAX_FORMAT,
        )
        self._tar.copybufsize = chunk_size

    def add(self, filename: str, source: Path, modified: datetime) -> str | None:
        """Stream the file at ``source`` in as ``filename`` (made unique); the name it got,
        or None if there is no such file (nothing is added)."""
        try:
            data = source.open("rb")
        except FileNotFoundError:
            return None
        with data:
            name = self.names.take(filename)
            info = tarfile.TarInfo(f"{self.folder}/{name}")
            info.size = os.fstat(data.fileno()).st_size
            info.mtime = int(modified.timestamp())
            info.mode = 0o644
            self._tar.addfile(info, data)
        return name

    def close(self) -> Written:
        """End the archive (tar's end blocks, gzip's trailer): what was written."""
        self._tar.close()
        return Written(self._out.size, self._out.sha256.hexdigest(), tuple(self.names.taken))


class UniqueNames:
    """File names made unique the way file managers do it: ``a.txt``, ``a (2).txt``…

    Case is ignored when comparing (``A.txt`` and ``a.txt`` would be one file on macOS
    and Windows), and a name that is empty or a path becomes a plain name.
    """

    def __init__(self) -> None:
        self.taken: list[str] = []
        self._seen: set[str] = set()

    def take(self, filename: str) -> str:
        base = plain_name(filename)
        stem, dot, suffix = base.rpartition(".")
        if not stem or not dot or len(suffix) > _EXTENSION_CHARS:
            stem, dot, suffix = base, "", ""
        name, copy = base, 1
        while name.casefold() in self._seen:
            copy += 1
            name = f"{stem} ({copy}){dot}{suffix}"
        self._seen.add(name.casefold())
        self.taken.append(name)
        return name


def plain_name(filename: str) -> str:
    """The last segment of ``filename`` as a path, without control characters or leading
    dots; ``document`` if nothing is left."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip().lstrip(".").strip()
    return name or "document"


def write_archive(
    out: BinaryIO,
    folder: str,
    files: Iterable[tuple[str, Path, datetime]],
    *,
    chunk_size: int = 64 * 1024,
) -> Written:
    """Write ``files`` (name, path, modified) to ``out`` as one tar.gz, in one call."""
    writer = ArchiveWriter(out, folder, chunk_size=chunk_size)
    for filename, source, modified in files:
        writer.add(filename, source, modified)
    return writer.close()
