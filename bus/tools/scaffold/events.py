"""Finding a contract by any name a person is likely to type."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from bus.tools.scaffold.errors import ScaffoldError
from contracts import Event, all_events


def resolve_event(name: str, known: Sequence[type[Event]] | None = None) -> type[Event]:
    """The contract named by its CloudEvents type (``documents.uploaded.v1``), its class
    name (``DocumentUploaded``) or its topic (``documents/uploaded/v1``).

    Raises:
        ScaffoldError: for a name no contract has (with the close matches), or a class
            name that two contracts share.
    """
    events = list(all_events() if known is None else known)
    by_name: dict[str, list[type[Event]]] = {}
    for event in events:
        for key in (event.contract.type, event.contract.topic, event.__name__):
            if event not in by_name.setdefault(key, []):
                by_name[key].append(event)
    found = by_name.get(name.strip())
    if found and len(found) == 1:
        return found[0]
    if found:
        types = ", ".join(sorted(e.contract.type for e in found))
        raise ScaffoldError(f"{name!r} names several contracts ({types}); give the type")
    close = difflib.get_close_matches(name, list(by_name), n=4, cutoff=0.6)
    lowered = [k for k in by_name if k.lower() == name.lower() and k not in close]
    hints = [*lowered, *close]
    hint = f"did you mean {', '.join(hints)}?" if hints else "'bus contracts' lists them"
    raise ScaffoldError(f"unknown event {name!r}: {hint}")
