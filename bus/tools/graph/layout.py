"""A simple three-column layout for drawing the graph without any library.

Producers on the left, events in the middle, consumers on the right: a service that
both produces and consumes appears on both sides, so every arrow runs left to right
and the diagram never needs cycle breaking. Within a column, boxes are ordered by
the mean position of their neighbours (a few barycentre sweeps), which removes most
crossings in a graph of this size.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Literal

from bus.tools.graph.model import EVERY_EVENT, Graph

BoxKind = Literal["service", "event", "every"]

_SERVICE_HEIGHT = 34.0
_EVENT_HEIGHT = 42.0
_GAP = 14.0
_MARGIN = 20.0
_CHANNEL = 150.0  # horizontal room for the arrows between two columns
_SWEEPS = 4


@dataclass(frozen=True, slots=True)
class Box:
    """A node drawn at ``(x, y)`` (top left)."""

    key: str
    kind: BoxKind
    label: str
    sublabel: str
    x: float
    y: float
    width: float
    height: float
    warning: bool = False


@dataclass(frozen=True, slots=True)
class Link:
    """An arrow from ``source``'s right side to ``target``'s left side.

    ``start`` and ``end`` are where it leaves and arrives: the arrows at one side of a
    box are spread along it, in the order of the boxes at their other ends.
    """

    source: Box
    target: Box
    title: str
    warning: bool = False
    dotted: bool = False
    start: tuple[float, float] = (0.0, 0.0)
    end: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Layout:
    width: float
    height: float
    boxes: tuple[Box, ...]
    links: tuple[Link, ...]


def layout(graph: Graph) -> Layout:
    """Place every node and arrow of ``graph``."""
    produced = [(e.service, e.event) for e in graph.edges if e.kind == "produces"]
    consumed = [(e.event, e.service) for e in graph.edges if e.kind == "consumes"]
    by_event = [(event, service) for service, event in produced]
    by_consumer = [(service, event) for event, service in consumed]
    producers = [s.name for s in graph.services if s.produces]
    consumers = [s.name for s in graph.services if s.consumes or s.every_event]
    events = [e.type for e in graph.events]
    every = [EVERY_EVENT] if graph.every_event_consumers else []

    for _ in range(_SWEEPS):
        events = _by_barycentre(events, (producers, by_event), (consumers, consumed))
        consumers = _by_barycentre(consumers, ([*events, *every], by_consumer))
        producers = _by_barycentre(producers, (events, produced))

    warned = {*graph.unconsumed, *graph.unproduced}
    service_width = _width([s.name for s in graph.services], 7.5, 90)
    event_width = _width([e.type for e in graph.events] + [e.name for e in graph.events], 6.6, 160)
    out_degree = Counter(service for service, _ in produced)
    in_degree = Counter(service for _, service in consumed)

    def service_box(side: str, name: str, arrows: int) -> Box:
        return Box(f"{side}:{name}", "service", name, "", 0, 0, service_width,
                   _service_height(arrows))  # fmt: skip

    def event_box(key: str) -> Box:
        if key == EVERY_EVENT:
            return Box(f"event:{key}", "every", "every event", "all domain topics", 0, 0,
                       event_width, _EVENT_HEIGHT)  # fmt: skip
        name = graph.event(key).name
        return Box(f"event:{key}", "event", name, key, 0, 0, event_width, _EVENT_HEIGHT,
                   key in warned)  # fmt: skip

    columns = [
        [service_box("producer", p, out_degree[p]) for p in producers],
        [event_box(t) for t in [*events, *every]],
        [service_box("consumer", c, in_degree[c]) for c in consumers],
    ]
    middle_x = _MARGIN + service_width + _CHANNEL
    xs = (_MARGIN, middle_x, middle_x + event_width + _CHANNEL)
    height = max(_column_height(column) for column in columns) + 2 * _MARGIN
    boxes = [
        box for x, column in zip(xs, columns, strict=True) for box in _stack(column, x, height)
    ]
    by_key = {b.key: b for b in boxes}
    links = []
    for edge in graph.edges:
        event = by_key[f"event:{edge.event}"]
        flagged = graph.flagged(edge)
        if edge.kind == "produces":
            source = by_key[f"producer:{edge.service}"]
            links.append(Link(source, event, f"{edge.service} produces {event.label}", flagged))
        else:
            target = by_key[f"consumer:{edge.service}"]
            title = f"{edge.service} consumes {event.label}"
            links.append(Link(event, target, title, flagged, dotted=edge.event == EVERY_EVENT))
    return Layout(xs[2] + service_width + _MARGIN, height, tuple(boxes), _ports(links))


def _ports(links: list[Link]) -> tuple[Link, ...]:
    """Spread the arrows leaving or reaching each box along its side."""
    starts: dict[int, tuple[float, float]] = {}
    ends: dict[int, tuple[float, float]] = {}
    for box in {id(link.source): link.source for link in links}.values():
        out = sorted((i for i, k in enumerate(links) if k.source is box),
                     key=lambda i: links[i].target.y)  # fmt: skip
        for rank, i in enumerate(out):
            starts[i] = (box.x + box.width, _spread(box, rank, len(out)))
    for box in {id(link.target): link.target for link in links}.values():
        into = sorted((i for i, k in enumerate(links) if k.target is box),
                      key=lambda i: links[i].source.y)  # fmt: skip
        for rank, i in enumerate(into):
            ends[i] = (box.x, _spread(box, rank, len(into)))
    return tuple(replace(k, start=starts[i], end=ends[i]) for i, k in enumerate(links))


def _spread(box: Box, rank: int, count: int) -> float:
    """The ``rank``-th of ``count`` points along the middle 60 % of the box's height."""
    if count == 1:
        return box.y + box.height / 2
    return box.y + box.height * (0.2 + 0.6 * rank / (count - 1))


Side = tuple[list[str], list[tuple[str, str]]]
"""A neighbouring column's order, and the (key, neighbour) pairs into it."""


def _by_barycentre(keys: list[str], *sides: Side) -> list[str]:
    """``keys`` sorted by the mean relative position of their neighbours in ``sides``.

    A key with no neighbour keeps its own relative place.
    """
    seen: dict[str, list[float]] = {k: [] for k in keys}
    for order, pairs in sides:
        index = {k: i / max(len(order), 1) for i, k in enumerate(order)}
        for key, neighbour in pairs:
            if key in seen and neighbour in index:
                seen[key].append(index[neighbour])
    current = {k: i / max(len(keys), 1) for i, k in enumerate(keys)}

    def weight(key: str) -> tuple[float, float]:
        where = seen[key]
        return (sum(where) / len(where) if where else current[key], current[key])

    return sorted(keys, key=weight)


def _stack(column: list[Box], x: float, height: float) -> list[Box]:
    """The column's boxes placed one under the other, centred vertically."""
    y = (height - _column_height(column)) / 2
    placed = []
    for box in column:
        placed.append(replace(box, x=x, y=y))
        y += box.height + _GAP
    return placed


def _column_height(column: list[Box]) -> float:
    return sum(box.height for box in column) + _GAP * max(len(column) - 1, 0)


def _service_height(arrows: int) -> float:
    """Tall enough for its arrows to arrive apart."""
    return max(_SERVICE_HEIGHT, arrows * 7.0 + 6.0)


def _width(texts: list[str], per_char: float, minimum: float) -> float:
    return max([minimum, *(len(t) * per_char + 24 for t in texts)])
