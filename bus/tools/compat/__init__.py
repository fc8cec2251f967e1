"""Contract compatibility: snapshot every event version's schema, then check changes.

``bus contracts snapshot`` records the JSON Schema, topic and CloudEvents type
of every contract version in ``contracts/schemas.lock.json``;
``bus contracts check`` fails when the code breaks a recorded version, from the
consumer's view: a consumer on the new code must accept every event valid under
the baseline (see :mod:`bus.tools.compat.diff` for both directions and why).
"""

from bus.tools.compat.compare import check
from bus.tools.compat.diff import Change, diff_schemas, diff_snapshots
from bus.tools.compat.snapshot import BASELINE, BaselineError, load, render, snapshot, write

__all__ = [
    "BASELINE",
    "BaselineError",
    "Change",
    "check",
    "diff_schemas",
    "diff_snapshots",
    "load",
    "render",
    "snapshot",
    "write",
]
