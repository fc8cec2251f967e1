"""The exporter's tar.gz streaming, without the bus: names, bytes, and bounded memory."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from services.exporter import ArchiveWriter, UniqueNames, write_archive
from services.exporter.archive import plain_name

WHEN = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
        }


def test_the_archive_holds_each_file_once_under_a_unique_name(tmp_path: Path) -> None:
    files = []
    for i, name in enumerate(["report.pdf", "Report.pdf", "notes.txt", "report.pdf"]):
        path = tmp_path / f"blob{i}"
        path.write_bytes(f"content {i}".encode() * 100)
        files.append((name, path, WHEN))
    out = io.BytesIO()
    written = write_archive(out, "chorus-export", files, chunk_size=512)
    members = _members(out.getvalue())
    assert list(members) == [
        "chorus-export/report.pdf",
        "chorus-export/Report (2).pdf",
        "chorus-export/notes.txt",
        "chorus-export/report (3).pdf",
    ]
    assert [members[f"chorus-export/{n}"] for n in written.names] == [
        p.read_bytes() for _, p, _ in files
    ]
    assert written.size_bytes == len(out.getvalue())
    assert written.sha256 == hashlib.sha256(out.getvalue()).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(out.getvalue()), mode="r:gz") as tar:
        assert {m.mtime for m in tar.getmembers()} == {int(WHEN.timestamp())}


def test_a_file_that_is_gone_is_left_out(tmp_path: Path) -> None:
    present = tmp_path / "present"
    present.write_bytes(b"here")
    out = io.BytesIO()
    writer = ArchiveWriter(out, "x")
    assert writer.add("a.txt", tmp_path / "gone", WHEN) is None
    assert writer.add("a.txt", present, WHEN) == "a.txt"
    written = writer.close()
    assert written.names == ("a.txt",)
    assert _members(out.getvalue()) == {"x/a.txt": b"here"}


def test_an_empty_archive_is_a_valid_tar_gz() -> None:
    out = io.BytesIO()
    written = write_archive(out, "x", [])
    assert written.names == ()
    assert _members(out.getvalue()) == {}


def test_names_are_plain_and_unique_ignoring_case() -> None:
    assert plain_name("../../etc/passwd") == "passwd"
    assert plain_name("C:\\Users\\me\\Bericht über.txt") == "Bericht über.txt"
    assert plain_name("..") == "document"
    assert plain_name("a\x00b\nc.txt") == "abc.txt"
    names = UniqueNames()
    taken = [
        names.take(n) for n in ["a", "A", "a.tar.gz", "A.TAR.GZ", ".hidden", "x.verylongextension1"]
    ]
    assert taken == ["a", "A (2)", "a.tar.gz", "A.TAR (2).GZ", "hidden", "x.verylongextension1"]


def _peak(tmp_path: Path, sizes: list[int], chunk_size: int) -> tuple[int, dict[str, bytes]]:
    """Python's peak allocation while streaming files of these sizes, and the archive's
    members."""
    tmp_path.mkdir()
    files = []
    for i, size in enumerate(sizes):
        path = tmp_path / f"blob{i}"
        path.write_bytes(os.urandom(size))
        files.append((f"big{i}.bin", path, WHEN))
    target = tmp_path / "out.tar.gz"
    with target.open("wb") as out:
        tracemalloc.start()
        try:
            written = write_archive(out, "x", files, chunk_size=chunk_size)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert written.size_bytes > sum(sizes)  # random bytes do not compress
    members = _members(target.read_bytes())
    assert [members[f"x/big{i}.bin"] for i in range(len(sizes))] == [
        p.read_bytes() for _, p, _ in files
    ]
    return peak, members


def test_memory_stays_bounded_whatever_the_archive_size(tmp_path: Path) -> None:
    """12 MB of incompressible bytes through a 16 KiB chunk take no more memory than
    64 KiB: zlib's own state (about 300 KiB, allocated through Python) and a few chunks,
    however large the files (reading one whole would take 4 MB at once)."""
    chunk = 16 * 1024
    small, _ = _peak(tmp_path / "small", [64 * 1024], chunk)
    large, _ = _peak(tmp_path / "large", [4 * 1024 * 1024] * 3, chunk)
    print(f"peak Python allocation: 64 KiB archived {small} bytes, 12 MiB {large} bytes")
    assert large - small < 4 * chunk
    assert large < 1024 * 1024
