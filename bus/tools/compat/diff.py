"""What changed between two snapshots of the contracts, and whether it breaks anyone.

Pure functions: schema dicts in, :class:`Change` records out; nothing is read or
written.

Which direction is checked, and why
-----------------------------------

An event version is a promise between producers and consumers who deploy
independently. Two things can go wrong when its schema changes:

* **Backward (breaking):** a consumer running the *new* code must accept every
  event an *old* producer sent. On this bus that is not only a matter of
  rollout order: the journal keeps every event, each replica's catch-up
  re-reads it after a gap, and ``bus dlq replay`` sends old envelopes again, so
  events written under the old schema reach new consumers for as long as the
  journal and dead letters keep them. A change that rejects any value the old
  schema accepted (a removed field, a narrowed type, a tighter constraint, a new
  or newly required field, a changed topic or type, a removed version) cannot
  be rolled out safely, so ``bus contracts check`` fails on it. This is the
  consumer's view, the rule the contracts follow: publish such a change as a new
  version (``event_version = 2`` in a new class, the old class kept).
* **Forward (listed, not failed):** a consumer running the *old* code must
  accept what a *new* producer sends. Widening a type, loosening a constraint or
  adding a field (even an optional one: contracts forbid unknown fields and
  producers send every field, defaults included) makes old consumers reject
  new events. That is transient, not permanent: it lasts until the consumers are
  upgraded, and the events it dead-letters can be replayed afterwards. Such
  changes are compatible but marked ``consumers_first``: deploy the consumers
  before the producers.

Both directions use one walker (:mod:`bus.tools.compat._walker`), run old-to-new
for the breaking changes and new-to-old for the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bus.tools.compat._keywords import Schema
from bus.tools.compat._walker import Finding, Walker


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between the baseline and the code.

    Attributes:
        event_type: The CloudEvents type of the version it concerns.
        path: The field (``owner``, ``address.city``, ``tags[]``); empty for the
            event as a whole.
        kind: A stable code: ``field-removed``, ``type-narrowed``,
            ``constraint-narrowed``, ``enum-narrowed``, ``required-field-added``,
            ``field-became-required``, ``topic-changed``, ``type-changed``,
            ``version-removed``, ... when breaking; ``field-added``,
            ``type-widened``, ``constraint-loosened``, ``annotation-changed``,
            ``version-added``, ``event-added``, ... when not.
        message: What changed, from the baseline to the code.
        breaking: Consumers on the new code would reject events valid under the
            baseline.
        consumers_first: Not breaking, but consumers still on the old code would
            reject what the new code may send: upgrade consumers first.
    """

    event_type: str
    path: str
    kind: str
    message: str
    breaking: bool
    consumers_first: bool = False


def diff_schemas(event_type: str, old: Schema, new: Schema) -> list[Change]:
    """Every change from the ``old`` JSON Schema of one event version to the ``new`` one.

    Args:
        event_type: Names the version in the changes returned.
        old: The baseline's schema (pydantic's ``model_json_schema()``).
        new: The code's schema.

    Returns:
        The breaking changes, then the compatible ones; a field with a breaking
        change is not listed again as compatible.
    """
    old_defs, new_defs = old.get("$defs", {}), new.get("$defs", {})
    backward = Walker(old_defs, new_defs).compare(old, new, "")
    forward = Walker(new_defs, old_defs, flip=True, annotations=False).compare(new, old, "")
    breaking = _unique(_change(event_type, f, breaking=True) for f in backward if f.problem)
    broken = {change.path for change in breaking}
    compatible = [_change(event_type, f, breaking=False) for f in backward if not f.problem]
    compatible += [
        _change(event_type, f, breaking=False, consumers_first=f.problem) for f in forward
    ]
    return breaking + _unique(c for c in compatible if c.path not in broken)


def diff_snapshots(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every change from one snapshot (see :mod:`bus.tools.compat.snapshot`) to another.

    Versions are matched by CloudEvents type; a version whose type is gone is
    matched to the code by its class, so a class whose name or version changed
    shows as a changed type instead of a removal.

    Returns:
        Breaking changes first, then by event type and field.
    """
    old_events: Mapping[str, Any] = old["events"]
    new_events: Mapping[str, Any] = new["events"]
    changes: list[Change] = []
    unmatched = {t: e for t, e in new_events.items() if t not in old_events}
    for event_type, entry in old_events.items():
        current = new_events.get(event_type)
        if current is not None:
            changes += _compare_entries(event_type, entry, current)
            continue
        moved = next((t for t, e in unmatched.items() if e["class"] == entry["class"]), None)
        if moved is not None:
            del unmatched[moved]
            message = (
                f"CloudEvents type changed: {event_type} -> {moved} (class {entry.get('class')}); "
                "keep the old version's class beside the new one"
            )
            changes.append(Change(event_type, "", "type-changed", message, breaking=True))
        else:
            message = f"version removed from the code (was class {entry.get('class')})"
            changes.append(Change(event_type, "", "version-removed", message, breaking=True))
    known_names = {e.get("name") for e in old_events.values()}
    for event_type, entry in unmatched.items():
        if entry.get("name") in known_names:
            changes.append(Change(event_type, "", "version-added", "new version", breaking=False))
        else:
            changes.append(Change(event_type, "", "event-added", "new event type", breaking=False))
    return sorted(changes, key=lambda c: (not c.breaking, c.event_type, c.path))


def _compare_entries(
    event_type: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[Change]:
    changes = []
    if old.get("topic") != new.get("topic"):
        message = f"topic changed: {old.get('topic')} -> {new.get('topic')}"
        changes.append(Change(event_type, "", "topic-changed", message, breaking=True))
    return changes + diff_schemas(event_type, old["schema"], new["schema"])


def _unique(changes: Iterable[Change]) -> list[Change]:
    """The changes in order, each once (a union's members can repeat a finding)."""
    return list(dict.fromkeys(changes))


def _change(
    event_type: str, finding: Finding, *, breaking: bool, consumers_first: bool = False
) -> Change:
    return Change(
        event_type,
        finding.path,
        finding.kind,
        finding.message,
        breaking=breaking,
        consumers_first=consumers_first,
    )
