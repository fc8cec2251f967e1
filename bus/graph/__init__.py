"""The choreography graph, drawn from the services' own declarations (``bus graph``)."""

from bus.graph.model import EVERY_EVENT, Edge, EventNode, Graph, ServiceNode, build_graph
from bus.graph.render_dot import render_dot
from bus.graph.render_html import render_html, render_svg
from bus.graph.render_mermaid import render_mermaid
from bus.graph.sources import SERVICES_FILE, load_services, reference_names

__all__ = [
    "EVERY_EVENT",
    "SERVICES_FILE",
    "Edge",
    "EventNode",
    "Graph",
    "ServiceNode",
    "build_graph",
    "load_services",
    "reference_names",
    "render_dot",
    "render_html",
    "render_mermaid",
    "render_svg",
]
