"""``bus graph``: who produces and who consumes each event, drawn from the code or from
the running instances (``--live``)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bus.loader import ServiceNotFoundError
from bus.service import Service
from bus.settings import BusSettings
from bus.tools.cli._common import err_console, fail, run
from bus.tools.graph import (
    SERVICES_FILE,
    Graph,
    build_graph,
    load_services,
    reference_names,
    render_dot,
    render_html,
    render_mermaid,
    render_svg,
)
from bus.tools.graph.model import ServiceNode
from bus.tools.graph.sources import read_live_services


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"
    svg = "svg"
    html = "html"


def graph_command(
    service: Annotated[
        list[str] | None,
        typer.Option(
            "--service",
            metavar="NAME",
            help="Services to include, in this order (NAME or module:attribute; repeat, "
            f"or separate with commas). Default: every service in {SERVICES_FILE}",
        ),
    ] = None,
    format: Annotated[
        GraphFormat, typer.Option("--format", "-f", help="mermaid, dot, svg or html")
    ] = GraphFormat.mermaid,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Draw the running instances instead of the code")
    ] = False,
) -> None:
    """Draw which service produces and which consumes each event.

    Drawn from the declarations: each service is imported, none runs. Events
    nobody handles, and handled events nobody produces, are printed as
    warnings on stderr and drawn red and dashed. A service that handles
    every event (the journal) gets one arrow from "every event" and does not
    count as handling any event in particular.

    With --live, drawn instead from the presence messages of the instances
    running now (see bus services): each service as its live instances
    announce it, stale instances left out; --service picks them by name.
    """
    try:
        graph = build_graph(_live_selected(service) if live else load_selected(service))
    except ValueError as exc:
        fail(str(exc))
    text = _render(graph, format)
    for warning in graph.warnings():
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    if output is None:
        print(text, end="")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    err_console.print(f"wrote {output}", highlight=False)


def load_selected(names: list[str] | None) -> list[Service]:
    """The named services (``a,b`` names two), or those of ``infra/services.txt``.

    Fails with a clear message for a name that is no service.
    """
    names = [n.strip() for value in names or [] for n in value.split(",") if n.strip()]
    if not names:
        try:
            names = reference_names()
        except FileNotFoundError:
            fail(f"no {SERVICES_FILE} here: run from the repository, or name --service")
    try:
        return load_services(names)
    except ServiceNotFoundError as exc:
        fail(exc.args[0])


def _live_selected(names: list[str] | None) -> list[ServiceNode]:
    """The running services (those named, in that order, if any are), warnings on stderr."""
    settings = BusSettings()
    nodes, warnings = run(read_live_services(settings))
    wanted = [n.strip() for value in names or [] for n in value.split(",") if n.strip()]
    if wanted:
        by_name = {node.name: node for node in nodes}
        warnings += [f"no live instance of {name}" for name in wanted if name not in by_name]
        nodes = [by_name[name] for name in wanted if name in by_name]
    if not nodes:
        namespace = f" (namespace {settings.namespace})" if settings.namespace else ""
        warnings.append(f"no running instances on {settings.mqtt_url}{namespace}")
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    return nodes


def _render(graph: Graph, format: GraphFormat) -> str:
    if format is GraphFormat.dot:
        return render_dot(graph)
    if format is GraphFormat.svg:
        return render_svg(graph) + "\n"
    if format is GraphFormat.html:
        return render_html(graph)
    return render_mermaid(graph)
