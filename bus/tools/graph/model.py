"""The choreography graph: services, the events they produce and consume, and the gaps.

Pure data built from the services' own declarations (``Service.consumes``,
``produces``, ``consumes_every_event``); nothing here connects to anything.

A service that handles every domain event (the journal, ``on_every_event``) gets a
single edge from the pseudo-event :data:`EVERY_EVENT` instead of one edge per event
type: that is what it declares, and it keeps the diagram readable. Such a service
does not count as a consumer when the graph looks for events nobody handles: an
event only the journal records still has no one acting on it.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from contracts import by_type

if TYPE_CHECKING:
    from bus.service import Service
    from contracts import Event

EVERY_EVENT = "*"
"""The pseudo-event a service that handles every domain event consumes."""

EdgeKind = Literal["produces", "consumes"]


@dataclass(frozen=True, slots=True)
class EventNode:
    """One event type: its CloudEvents type, class name and MQTT topic."""

    type: str
    name: str
    topic: str

    @classmethod
    def of(cls, event: builtins.type[Event]) -> EventNode:
        info = event.contract
        return cls(type=info.type, name=event.__name__, topic=info.topic)


@dataclass(frozen=True, slots=True)
class ServiceNode:
    """One service and what it declares, as event types.

    ``shared``: its replicas split each stream (``$share/<name>/<topic>``).
    """

    name: str
    consumes: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    every_event: bool = False
    jobs: tuple[str, ...] = ()
    shared: bool = True

    @classmethod
    def of(cls, service: Service) -> ServiceNode:
        return cls(
            name=service.name,
            consumes=tuple(e.contract.type for e in service.consumes),
            produces=tuple(e.contract.type for e in service.produces),
            every_event=service.consumes_every_event,
            jobs=tuple(j.name for j in service.jobs),
            shared=service.shared,
        )


@dataclass(frozen=True, slots=True)
class Edge:
    """``service`` produces or consumes ``event`` (a type, or :data:`EVERY_EVENT`)."""

    service: str
    kind: EdgeKind
    event: str


@dataclass(frozen=True, slots=True)
class Graph:
    """Services and events as nodes; an edge per declared production or consumption.

    Attributes:
        services: In the order they were given.
        events: Every event some service produces or consumes, sorted by type.
        edges: Productions first (service order), then consumptions.
    """

    services: tuple[ServiceNode, ...]
    events: tuple[EventNode, ...]
    edges: tuple[Edge, ...]
    _by_type: dict[str, EventNode] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_type", {e.type: e for e in self.events})

    def event(self, event_type: str) -> EventNode:
        return self._by_type[event_type]

    def producers(self, event_type: str) -> list[str]:
        return [e.service for e in self.edges if e.kind == "produces" and e.event == event_type]

    def consumers(self, event_type: str) -> list[str]:
        """The services with a handler of this very type (not those taking every event)."""
        return [e.service for e in self.edges if e.kind == "consumes" and e.event == event_type]

    @property
    def every_event_consumers(self) -> list[str]:
        return [s.name for s in self.services if s.every_event]

    @property
    def unconsumed(self) -> list[str]:
        """Event types some service produces and no service handles."""
        return [
            e.type for e in self.events if self.producers(e.type) and not self.consumers(e.type)
        ]

    @property
    def unproduced(self) -> list[str]:
        """Event types some service handles and no service produces."""
        return [
            e.type for e in self.events if self.consumers(e.type) and not self.producers(e.type)
        ]

    def flagged(self, edge: Edge) -> bool:
        """Whether the edge leads to an event nobody handles or from one nobody produces."""
        if edge.kind == "produces":
            return edge.event in self.unconsumed
        return edge.event in self.unproduced

    def warnings(self) -> list[str]:
        """One line a person can read per gap, unconsumed events first."""
        recorders = self.every_event_consumers
        only = f" (only {', '.join(recorders)} records it)" if recorders else ""
        lines = [
            f"{t} ({self.event(t).name}) is produced by {', '.join(self.producers(t))}"
            f" but no service handles it{only}"
            for t in self.unconsumed
        ]
        lines += [
            f"{t} ({self.event(t).name}) is consumed by {', '.join(self.consumers(t))}"
            " but no service produces it"
            for t in self.unproduced
        ]
        return lines


def build_graph(services: Iterable[Service | ServiceNode]) -> Graph:
    """The graph of these services' declarations.

    Args:
        services: ``bus.Service`` objects (nothing is started), or their summaries.
    """
    nodes = tuple(s if isinstance(s, ServiceNode) else ServiceNode.of(s) for s in services)
    names = [n.name for n in nodes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"services named more than once: {', '.join(duplicates)}")
    edges = [Edge(n.name, "produces", t) for n in nodes for t in n.produces]
    edges += [Edge(n.name, "consumes", EVERY_EVENT) for n in nodes if n.every_event]
    edges += [Edge(n.name, "consumes", t) for n in nodes for t in n.consumes]
    types = sorted({e.event for e in edges if e.event != EVERY_EVENT})
    events = tuple(EventNode.of(by_type(t)) for t in types)
    return Graph(services=nodes, events=events, edges=tuple(edges))
