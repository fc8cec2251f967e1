"""The event being handled right now, so that what a handler publishes continues its chain."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from bus.envelope import Envelope

_current: ContextVar[Envelope | None] = ContextVar("chorus_current_envelope", default=None)


def current_envelope() -> Envelope | None:
    """The envelope whose handler is running in this task, or None outside handlers."""
    return _current.get()


@contextmanager
def handling(envelope: Envelope) -> Iterator[None]:
    """Mark ``envelope`` as the cause of everything published inside the block."""
    token = _current.set(envelope)
    try:
        yield
    finally:
        _current.reset(token)
