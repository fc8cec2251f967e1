"""Compare the code's contracts with the committed baseline."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bus.tools.compat.diff import Change, diff_snapshots
from bus.tools.compat.snapshot import BASELINE, load, snapshot
from contracts import Event


def check(baseline: Path = BASELINE, events: Iterable[type[Event]] | None = None) -> list[Change]:
    """Every change from the baseline file to ``events`` (every registered contract).

    Breaking changes have ``breaking=True`` and come first.

    Raises:
        BaselineError: The baseline file cannot be read or is not a snapshot.
    """
    return diff_snapshots(load(baseline), snapshot(events))
