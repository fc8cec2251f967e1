"""The choreography graph, drawn from the services' own declarations (``bus graph``)."""

from bus.tools.graph.model import EVERY_EVENT, Edge, EventNode, Graph, ServiceNode, build_graph
from bus.tools.graph.render_dot import render_dot
from bus.tools.graph.render_html import render_html, render_svg
from bus.tools.graph.render_mermaid import render_mermaid
from bus.tools.graph.sources import SERVICES_FILE, load_services, reference_names

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
