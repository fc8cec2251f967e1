"""The committed baseline: every contract version's JSON Schema, topic and type.

The file is written deterministically (sorted keys, two-space indent, one
trailing newline), so a change to a contract shows as a readable diff in review.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import contracts.base
from contracts import Event, all_events

BASELINE = Path(contracts.base.__file__).parent / "schemas.lock.json"
"""The baseline ``bus contracts check`` compares with: ``contracts/schemas.lock.json``."""

FORMAT = 1
"""The layout of the file; a file with another one is refused."""

_ABOUT = (
    "Written by `bus contracts snapshot`; `bus contracts check` fails when the code breaks "
    "a version recorded here. Do not edit by hand."
)


class BaselineError(ValueError):
    """The baseline file is missing, not JSON, or not a snapshot."""


def entry(event: type[Event]) -> dict[str, Any]:
    """What the baseline records of one event version."""
    info = event.contract
    return {
        "class": f"{event.__module__}.{event.__qualname__}",
        "name": info.name,
        "version": info.version,
        "type": info.type,
        "topic": info.topic,
        "schema": event.model_json_schema(),
    }


def snapshot(events: Iterable[type[Event]] | None = None) -> dict[str, Any]:
    """The snapshot of ``events`` (every registered contract by default).

    The result is plain JSON data, exactly what :func:`load` returns for the
    file :func:`write` makes of it.
    """
    chosen = all_events() if events is None else events
    data = {
        "about": _ABOUT,
        "format": FORMAT,
        "events": {e.contract.type: entry(e) for e in chosen},
    }
    loaded: dict[str, Any] = json.loads(render(data))
    return loaded


def render(data: Mapping[str, Any]) -> str:
    """A snapshot as the text of the file: the same data always gives the same bytes."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(data: Mapping[str, Any], path: Path = BASELINE) -> None:
    """Write a snapshot to ``path``."""
    path.write_text(render(data), encoding="utf-8")


def load(path: Path = BASELINE) -> dict[str, Any]:
    """Read a snapshot back.

    Raises:
        BaselineError: The file cannot be read, is not JSON, or is not a snapshot.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BaselineError(f"cannot read the baseline {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"the baseline {path} is not valid JSON: {exc}") from None
    _validate(data, path)
    return dict(data)


def _validate(data: Any, path: Path) -> None:
    if not isinstance(data, dict) or not isinstance(data.get("events"), dict):
        raise BaselineError(f"the baseline {path} is not a snapshot: it has no 'events' object")
    if data.get("format") != FORMAT:
        raise BaselineError(
            f"the baseline {path} has format {data.get('format')!r}; this bus reads {FORMAT}"
        )
    for event_type, recorded in data["events"].items():
        if not isinstance(recorded, dict) or not isinstance(recorded.get("schema"), dict):
            raise BaselineError(f"the baseline {path} has no schema for {event_type}")
