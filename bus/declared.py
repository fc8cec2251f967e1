"""What the rest of the runtime reads of a service's declarations (a :class:`bus.Service`).

Presence, the broker's rules and the producer map take this, not the whole ``Service``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bus.settings import BusSettings
    from contracts import Event, Query


class Declared(Protocol):
    """A service's name, settings and declarations."""

    name: str
    settings: BusSettings
    version: str | None
    shared: bool

    @property
    def consumes(self) -> Sequence[type[Event]]: ...

    @property
    def consumes_every_event(self) -> bool: ...

    @property
    def produces(self) -> Sequence[type[Event]]: ...

    @property
    def job_names(self) -> Sequence[str]: ...

    @property
    def asks(self) -> Sequence[type[Query[Any]]]: ...

    @property
    def answers(self) -> Sequence[type[Query[Any]]]: ...
