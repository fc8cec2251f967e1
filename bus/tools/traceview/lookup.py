"""Finding one trace by its id, a prefix of it, or an event or correlation id in it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bus.tools.traceview.model import Trace

MIN_PREFIX = 6
"""Hex digits of a trace id enough to name it, if no other trace starts with them."""


class TraceLookupError(LookupError):
    """No trace, or more than one, answers to what was asked; the message says which."""


def find_trace(traces: Sequence[Trace], key: str) -> Trace:
    """The trace ``key`` names.

    ``key`` is a trace id (``0x`` optional) or a unique prefix of one of at least
    :data:`MIN_PREFIX` hex digits, else an event id (``cloudevents.event_id``) or a
    correlation id (``chorus.correlation_id``) found on one of its spans.

    Raises:
        TraceLookupError: nothing matches, or several traces do.
    """
    wanted = key.strip()
    digits = wanted.lower().removeprefix("0x")
    is_hex = bool(digits) and all(c in "0123456789abcdef" for c in digits)
    if is_hex and len(digits) >= MIN_PREFIX:
        matches = [t for t in traces if t.trace_id.startswith(digits)]
        if len(matches) > 1:
            raise TraceLookupError(
                f"{key!r} is ambiguous: it starts {len(matches)} trace ids "
                f"({_some(t.trace_id for t in matches)}); give more digits"
            )
        if matches:
            return matches[0]
    found = [t for t in traces if any(wanted in (s.event_id, s.correlation_id) for s in t.spans)]
    if len(found) == 1:
        return found[0]
    if found:
        raise TraceLookupError(
            f"{key!r} is an event or correlation id in {len(found)} traces "
            f"({_some(t.trace_id for t in found)}); name one by its trace id"
        )
    if is_hex and len(digits) < MIN_PREFIX:
        raise TraceLookupError(
            f"{key!r} is too short: give at least {MIN_PREFIX} hex digits of a trace id"
        )
    raise TraceLookupError(
        f"no trace with id, event id or correlation id {key!r} among {len(traces)} trace(s) read"
    )


def _some(ids: Iterable[str]) -> str:
    listed = list(ids)
    shown = ", ".join(listed[:5])
    return f"{shown}, …" if len(listed) > 5 else shown
