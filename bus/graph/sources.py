"""Which services a graph or a document covers: the reference list, or names given."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bus.loader import load_service
from bus.service import Service

SERVICES_FILE = Path("infra/services.txt")
"""The services ``make up`` runs, one ``NAME [REPLICAS]`` a line (relative to the repo)."""


def reference_names(path: Path = SERVICES_FILE) -> list[str]:
    """The service names listed in ``path``, in order, each once.

    Raises:
        FileNotFoundError: if there is no such file.
    """
    names: list[str] = []
    for line in path.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if words and words[0] not in names:
            names.append(words[0])
    return names


def load_services(names: Iterable[str]) -> list[Service]:
    """Import each service (``NAME`` or ``module:attribute``, as ``bus run`` takes them).

    Nothing is started: a ``Service`` connects only in ``start()``.

    Raises:
        ServiceNotFoundError: for a name that is no service.
    """
    return [load_service(name) for name in names]
