"""How a finding describes a change, always from the old schema to the new one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bus.tools.compat._keywords import MISSING, Bound, lowers, raises


def show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 60 else f"{text[:57]}..."


def show_values(values: Sequence[Any]) -> str:
    return ", ".join(show(v) for v in values)


def limit_change(keyword: str, old: float | None, new: float | None) -> str:
    if old is None:
        return f"{keyword} {show(new)} added"
    if new is None:
        return f"{keyword} {show(old)} removed"
    verb = "raised" if new > old else "lowered"
    return f"{keyword} {verb}: {show(old)} -> {show(new)}"


def bound_change(side: str, old: Bound | None, new: Bound | None) -> str:
    def text(bound: Bound) -> str:
        sign = (">" if side == "minimum" else "<") + ("" if bound[1] else "=")
        value = int(bound[0]) if bound[0].is_integer() else bound[0]
        return f"{sign} {value}"

    if old is None or new is None:
        present = new if old is None else old
        assert present is not None  # one side always has the bound
        return f"{side} {text(present)} {'added' if old is None else 'removed'}"
    tighter = raises(old, new) if side == "minimum" else lowers(old, new)
    if side == "minimum":
        verb = "raised" if tighter else "lowered"
    else:
        verb = "lowered" if tighter else "raised"
    return f"{side} {verb}: {text(old)} -> {text(new)}"


def value_change(keyword: str, old: Any, new: Any) -> str:
    if old is MISSING:
        return f"{keyword} {show(new)} added"
    if new is MISSING:
        return f"{keyword} {show(old)} removed"
    return f"{keyword} changed: {show(old)} -> {show(new)}"
