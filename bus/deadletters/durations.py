"""Durations as people type them: ``30m``, ``12h``, ``7d``, ``1h30m``, seconds, or ISO 8601."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, TypeAdapter, ValidationError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_COMPACT = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_PYDANTIC = TypeAdapter(timedelta)


def parse_duration(value: Any) -> timedelta:
    """A duration, never negative, from a ``timedelta``, a number of seconds, a compact text
    (``90s``, ``30m``, ``12h``, ``7d``, ``2w``, ``1h30m``, ``1.5h``) or what pydantic reads as
    one (ISO 8601 such as ``P30D`` or ``PT12H``, ``HH:MM:SS``).

    Raises:
        ValueError: ``value`` is none of these, or is negative.
    """
    text = value.strip() if isinstance(value, str) else value
    compact = text.lower() if isinstance(text, str) else ""
    if re.fullmatch(r"\d+(?:\.\d+)?", compact):
        duration = timedelta(seconds=float(compact))
    elif _COMPACT.fullmatch(compact):
        seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(compact))
        duration = timedelta(seconds=seconds)
    else:
        try:
            duration = _PYDANTIC.validate_python(text)
        except ValidationError:
            msg = f"{value!r} is not a duration (examples: 30m, 12h, 7d, 1h30m, P30D, 3600)"
            raise ValueError(msg) from None
    if duration < timedelta(0):
        msg = f"{value!r} is negative: a duration is 0 or more"
        raise ValueError(msg)
    return duration


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
"""A ``timedelta`` field that reads :func:`parse_duration`'s forms."""
