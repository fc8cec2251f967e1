"""Flow: the choreography graph of the running services, with the traffic on each edge."""

from __future__ import annotations

import re
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sse_starlette.sse import EventSourceResponse

from bus.tools.console.auth import SessionDep
from bus.tools.console.live import Presences, Traffic
from bus.tools.console.stream import live
from bus.tools.console.templating import fragment, page
from bus.tools.graph import EVERY_EVENT, Edge, Graph, build_graph, render_svg
from bus.tools.graph.layout import layout
from bus.tools.graph.sources import live_nodes

router = APIRouter()

_EVENT_BOX = re.compile(r'(<g class="event(?: warning)?"><title>)([a-z0-9_.]+)(</title>.*?</g>)')
"""An event type's box in :func:`~bus.tools.graph.render_svg`'s drawing (its title is the
type), made a link to the type's page."""


def edge_id(edge: Edge) -> str:
    """How a page (and a test) names one edge: ``produces:gateway:documents.uploaded.v1``."""
    return f"{edge.kind}:{edge.service}:{edge.event}"


def edge_count(edge: Edge, traffic: Traffic) -> tuple[int, float]:
    """Events that passed along ``edge`` since the console started, and per second now.

    A production counts the events of its type whose source is the service; a
    consumption, every event of its type (each consuming service gets its own copy).
    """
    produced, by_type_rate = traffic.rates()
    if edge.kind == "produces":
        return traffic.produced[edge.service, edge.event], produced[edge.service, edge.event]
    if edge.event == EVERY_EVENT:
        return sum(traffic.by_type.values()), sum(by_type_rate.values())
    return traffic.by_type[edge.event], by_type_rate[edge.event]


def svg_with_counts(graph: Graph, traffic: Traffic) -> str:
    """The graph's SVG with a label on each edge: events so far, and per second."""
    svg = render_svg(graph)
    labels = []
    for edge, link in zip(graph.edges, layout(graph).links, strict=True):
        (x1, y1), (x2, y2) = link.start, link.end
        total, rate = edge_count(edge, traffic)
        labels.append(
            f'<text class="count" data-edge="{escape(edge_id(edge))}" data-total="{total}" '
            f'x="{(x1 + x2) / 2:.1f}" y="{(y1 + y2) / 2 - 4:.1f}" text-anchor="middle">'
            f"{total} · {rate:.1f}/s</text>"
        )
    svg = _EVENT_BOX.sub(r'<a href="/types/\2" class="event-link">\1\2\3</a>', svg)
    return svg.replace("</svg>", "\n".join(labels) + "\n</svg>")


def render(presences: Presences, traffic: Traffic) -> str:
    nodes, warnings = live_nodes(presences.sightings())
    graph = build_graph(nodes)
    counts = [(edge_id(e), *edge_count(e, traffic)) for e in graph.edges]
    return fragment(
        "flow_graph.html", graph=graph, svg=svg_with_counts(graph, traffic) if nodes else "",
        warnings=warnings + graph.warnings(), counts=counts,
        dead_letters=sorted(traffic.dead_letters.items()), connected=traffic.connected,
    )  # fmt: skip


@router.get("/flow", response_class=HTMLResponse)
async def flow_page(request: Request, session: SessionDep) -> HTMLResponse:
    state = request.app.state
    return page(request, "flow.html", graph=render(state.presences, state.traffic))


@router.get("/flow/stream")
async def flow_stream(request: Request, session: SessionDep) -> EventSourceResponse:
    state = request.app.state

    async def current() -> str:
        return render(state.presences, state.traffic)

    return live(request, current)
