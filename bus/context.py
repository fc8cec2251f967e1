"""The event being handled right now, so that what a handler publishes continues its chain.

Events published while handling get ids derived from the handled event's id, the
publishing service, the handling's scope, the event type and a running count. A
handler (or job) that runs again on the same event, after a crash or a retry,
therefore publishes the same ids again, and consumers skip them as duplicates.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from bus.envelope import Envelope

_NAMESPACE = uuid.UUID("6f1d3c2a-5b8e-4c1f-9a7d-2e0b4c6d8f10")


@dataclass
class _Handling:
    envelope: Envelope
    scope: str
    published: Counter[str] = field(default_factory=Counter)


_current: ContextVar[_Handling | None] = ContextVar("chorus_current_handling", default=None)


def current_envelope() -> Envelope | None:
    """The envelope whose handler is running in this task, or None outside handlers."""
    handling = _current.get()
    return handling.envelope if handling else None


def derived_event_id(service: str, event_type: str) -> str | None:
    """The id of the next event of ``event_type`` this handling publishes (None outside one)."""
    handling = _current.get()
    if handling is None:
        return None
    handling.published[event_type] += 1
    name = "|".join(
        (
            service,
            handling.scope,
            handling.envelope.id,
            event_type,
            str(handling.published[event_type]),
        )
    )
    return str(uuid.uuid5(_NAMESPACE, name))


@contextmanager
def handling(envelope: Envelope, scope: str = "handler") -> Iterator[None]:
    """Mark ``envelope`` as the cause of everything published inside the block.

    ``scope`` separates the ids of different work on the same event (a handler,
    a job) so that they never collide.
    """
    token = _current.set(_Handling(envelope, scope))
    try:
        yield
    finally:
        _current.reset(token)
