"""Which services a graph or a document covers: the reference list, names given, or
the instances running now (from their presence on the broker)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bus.discovery import EVERY_EVENT, Sighting, read_presence
from bus.loader import load_service
from bus.service import Service
from bus.settings import BusSettings
from bus.tools.graph.model import ServiceNode
from contracts import UnknownEventError, by_type

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


def live_nodes(sightings: Iterable[Sighting]) -> tuple[list[ServiceNode], list[str]]:
    """One node per service with a live instance: what its live instances announce, merged.

    Stale instances (probably dead) are left out, and so are event types that this
    installation's contracts do not know (a newer version runs somewhere).

    Returns:
        The nodes, by service name, and one warning line per thing left out.
    """
    merged: dict[str, dict[str, list[str]]] = {}
    shared: dict[str, bool] = {}
    warnings: list[str] = []
    for sighting in sightings:
        p = sighting.presence
        if sighting.stale:
            warnings.append(f"left out {p.service}/{p.instance}: stale (no heartbeat for "
                            f"{sighting.age:.0f}s)")  # fmt: skip
            continue
        node = merged.setdefault(p.service, {"consumes": [], "produces": [], "jobs": []})
        shared.setdefault(p.service, p.shared)
        for kind, values in (("consumes", p.consumes), ("produces", p.produces), ("jobs", p.jobs)):
            node[kind] += [v for v in values if v not in node[kind]]
    nodes = []
    for name in sorted(merged):
        declared = merged[name]
        known = {kind: _known(name, declared[kind], warnings) for kind in ("consumes", "produces")}
        nodes.append(
            ServiceNode(
                name=name,
                consumes=tuple(t for t in known["consumes"] if t != EVERY_EVENT),
                produces=tuple(known["produces"]),
                every_event=EVERY_EVENT in declared["consumes"],
                jobs=tuple(declared["jobs"]),
                shared=shared[name],
            )
        )
    return nodes, warnings


def _known(service: str, types: list[str], warnings: list[str]) -> list[str]:
    known = []
    for event_type in types:
        if event_type == EVERY_EVENT:
            known.append(event_type)
            continue
        try:
            by_type(event_type)
        except UnknownEventError:
            warnings.append(f"left out {event_type} of {service}: not a known contract here")
            continue
        known.append(event_type)
    return known


async def read_live_services(
    settings: BusSettings | None = None,
) -> tuple[list[ServiceNode], list[str]]:
    """The running services, from the presence messages on the broker (``bus graph --live``).

    Returns:
        The nodes, by service name, and warnings (unreadable presences, what was left out).

    Raises:
        MQTT_ERRORS: if the broker cannot be reached.
    """
    roster = await read_presence(settings)
    warnings = [f"{topic}: {reason}" for topic, reason in sorted(roster.unreadable.items())]
    nodes, left_out = live_nodes(roster.sightings())
    return nodes, warnings + left_out
