"""Where a scaffold goes and how it lands: all of it, or nothing."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from bus.tools.scaffold.errors import ScaffoldError

SERVICES_FILE = Path("infra/services.txt")
"""The services ``make up`` runs, ``NAME [REPLICAS]`` a line (relative to the repo)."""


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: the current one) with a
    ``pyproject.toml``.

    Raises:
        ScaffoldError: if there is none.
    """
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").is_file():
            return candidate
    raise ScaffoldError(f"no pyproject.toml in {here} or above; give the repository with --root")


def registered(text: str, name: str) -> bool:
    """Whether a services file's ``text`` already lists ``name``."""
    return any(line.split("#", 1)[0].split()[:1] == [name] for line in text.splitlines())


def register(text: str, name: str) -> str:
    """``text`` of a services file with ``name`` appended, unless it is listed already;
    comments and every other line stay as they are."""
    if registered(text, name):
        return text
    if text and not text.endswith("\n"):
        text += "\n"
    return f"{text}{name}\n"


def write_all(root: Path, files: Mapping[Path, str], *, replace: Mapping[Path, str]) -> None:
    """Create ``files`` and overwrite ``replace`` (paths relative to ``root``), all or none.

    Everything is written to a staging folder under ``root`` first (so on the same file
    system), then renamed into place; a failure part-way removes what was already
    moved and leaves the replaced files as they were.

    Raises:
        ScaffoldError: if one of ``files`` exists by the time it is moved.
    """
    staging = Path(tempfile.mkdtemp(prefix=".bus-new-", dir=root))
    moved: list[Path] = []
    originals: dict[Path, bytes] = {}
    try:
        for rel, content in {**files, **replace}.items():
            staged = staging / rel
            staged.parent.mkdir(parents=True, exist_ok=True)
            staged.write_text(content, encoding="utf-8")
        for top in _tops(root, files):
            target = root / top
            if target.exists():
                raise ScaffoldError(f"{top} appeared while writing; nothing was written")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging / top, target)
            moved.append(target)
        for rel in replace:
            target = root / rel
            if target.exists():
                originals[target] = target.read_bytes()
                shutil.copymode(target, staging / rel)
            os.replace(staging / rel, target)
    except BaseException:
        for target in reversed(moved):
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
        for target, original in originals.items():
            target.write_bytes(original)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _tops(root: Path, files: Mapping[Path, str]) -> list[Path]:
    """What to move: for each file, its outermost folder that does not exist yet
    (``services/NAME``, moved whole), or the file itself."""
    tops: list[Path] = []
    for rel in files:
        prefixes = (Path(*rel.parts[:n]) for n in range(1, len(rel.parts) + 1))
        top = next((p for p in prefixes if not (root / p).exists()), None)
        if top is None:
            raise ScaffoldError(f"{rel} exists already; nothing was written")
        if top not in tops:
            tops.append(top)
    return tops
