"""Stable, diagram-safe node ids shared by the renderers."""

from __future__ import annotations

import re

from bus.tools.graph.model import EVERY_EVENT, Graph

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def node_ids(graph: Graph) -> dict[str, str]:
    """``svc:<name>`` / ``ev:<type>`` / ``ev:*`` to an id of letters, digits and ``_``."""
    keys = [f"svc:{s.name}" for s in graph.services]
    keys += [f"ev:{e.type}" for e in graph.events]
    keys.append(f"ev:{EVERY_EVENT}")
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for key in keys:
        kind, _, name = key.partition(":")
        base = "every_event" if name == EVERY_EVENT else f"{kind}_{_UNSAFE.sub('_', name)}"
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate)
        ids[key] = candidate
    return ids


def service_key(name: str) -> str:
    return f"svc:{name}"


def event_key(event_type: str) -> str:
    return f"ev:{event_type}"
