"""``bus graph``: the choreography drawn from the services' declarations, with its gaps."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bus import Envelope, Service
from bus.tools.graph import (
    EVERY_EVENT,
    Edge,
    Graph,
    build_graph,
    load_services,
    reference_names,
    render_dot,
    render_html,
    render_mermaid,
    render_svg,
)
from contracts import (
    DocumentContentDeleted,
    DocumentFailed,
    DocumentInspected,
    DocumentReady,
    DocumentUploaded,
    Event,
    ExportExpired,
    ExportFailed,
    ExportReady,
    ExportRequested,
    JobFailed,
    JobProgressed,
    JobSucceeded,
    NotificationSent,
    QuotaExceeded,
    QuotaReleased,
    QuotaReserved,
)
from tests.helpers import bus

ROOT = Path(__file__).resolve().parents[2]

FLOW_ORDER = ["gateway", "accounts", "inspector", "catalog", "notifier", "exporter", "journal"]
"""The reference services in the order a document flows through them: the order
``docs/graph.mmd`` declares them in, so that Mermaid lays the flow out left to right."""


def produces(service: str, *events: type[Event]) -> set[Edge]:
    return {Edge(service, "produces", e.contract.type) for e in events}


def consumes(service: str, *events: type[Event]) -> set[Edge]:
    return {Edge(service, "consumes", e.contract.type) for e in events}


# Written out by hand from the services' docstrings and the README's table.
REFERENCE_EDGES = (
    produces("gateway", DocumentUploaded, DocumentContentDeleted, ExportRequested)
    | consumes("gateway", QuotaExceeded, DocumentFailed)
    | consumes("accounts", DocumentUploaded, DocumentFailed)
    | produces("accounts", QuotaReserved, QuotaExceeded, QuotaReleased)
    | produces("accounts", JobProgressed, JobSucceeded, JobFailed)  # its scheduled job
    | consumes("inspector", QuotaReserved)
    | produces(
        "inspector", DocumentInspected, DocumentFailed, JobProgressed, JobSucceeded, JobFailed
    )
    | consumes(
        "catalog",
        DocumentUploaded,
        QuotaReserved,
        JobProgressed,
        DocumentInspected,
        QuotaExceeded,
        DocumentFailed,
        QuotaReleased,
        DocumentContentDeleted,
    )
    | produces("catalog", DocumentReady)
    | consumes("notifier", DocumentReady, QuotaExceeded, DocumentFailed)
    | produces("notifier", NotificationSent)
    | consumes("exporter", ExportRequested)
    | produces("exporter", ExportReady, ExportFailed, ExportExpired)
    | produces("exporter", JobProgressed, JobSucceeded, JobFailed)  # its job and its purge
    | {Edge("journal", "consumes", EVERY_EVENT)}
)


@pytest.fixture(scope="module")
def reference() -> Graph:
    return build_graph(load_services(reference_names(ROOT / "infra" / "services.txt")))


def test_the_reference_graph_has_exactly_its_real_edges(reference: Graph) -> None:
    assert len(reference.edges) == len(set(reference.edges))
    assert set(reference.edges) == REFERENCE_EDGES
    assert [s.name for s in reference.services] == [
        "journal", "accounts", "inspector", "catalog", "notifier", "exporter", "gateway",
    ]  # fmt: skip
    assert len(reference.events) == 16


def test_the_journal_is_one_edge_from_every_event(reference: Graph) -> None:
    journal = [e for e in reference.edges if e.service == "journal"]
    assert journal == [Edge("journal", "consumes", EVERY_EVENT)]
    assert reference.every_event_consumers == ["journal"]


def test_job_events_come_from_the_services_with_jobs(reference: Graph) -> None:
    inspector = next(s for s in reference.services if s.name == "inspector")
    assert inspector.jobs == ("inspect_document",)
    accounts = next(s for s in reference.services if s.name == "accounts")
    assert accounts.jobs == ("reconcile_quotas",)  # a scheduled job
    exporter = next(s for s in reference.services if s.name == "exporter")
    assert exporter.jobs == ("write_export", "purge_expired_exports")
    for event in (JobProgressed, JobSucceeded, JobFailed):
        assert reference.producers(event.contract.type) == ["accounts", "inspector", "exporter"]


def test_the_reference_gaps_are_the_events_only_the_journal_records(reference: Graph) -> None:
    assert reference.unconsumed == [
        "exports.expired.v1", "exports.failed.v1", "exports.ready.v1",
        "jobs.failed.v1", "jobs.succeeded.v1", "notifications.sent.v1",
    ]  # fmt: skip
    assert reference.unproduced == []
    assert reference.warnings() == [
        *(
            f"exports.{name}.v1 ({kind}) is produced by exporter but no service handles it"
            " (only journal records it)"
            for name, kind in [
                ("expired", "ExportExpired"),
                ("failed", "ExportFailed"),
                ("ready", "ExportReady"),
            ]
        ),
        "jobs.failed.v1 (JobFailed) is produced by accounts, inspector, exporter but no"
        " service handles it (only journal records it)",
        "jobs.succeeded.v1 (JobSucceeded) is produced by accounts, inspector, exporter but no"
        " service handles it (only journal records it)",
        "notifications.sent.v1 (NotificationSent) is produced by notifier but no service"
        " handles it (only journal records it)",
    ]


def synthetic() -> Graph:
    """``a`` and ``b`` hand one event over; the rest is left hanging."""
    a = Service("a", produces=[DocumentUploaded, DocumentReady])
    b = Service("b", produces=[QuotaReserved])
    recorder = Service("recorder", shared=False)

    @a.on(QuotaExceeded)
    async def on_exceeded(event: QuotaExceeded) -> None: ...

    @b.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded) -> None: ...

    @recorder.on_every_event
    async def record(envelope: Envelope) -> None: ...

    return build_graph([a, b, recorder])


def test_gaps_are_found_and_a_handler_of_every_event_does_not_hide_them() -> None:
    graph = synthetic()
    assert graph.unconsumed == ["accounts.quota_reserved.v1", "documents.ready.v1"]
    assert graph.unproduced == ["accounts.quota_exceeded.v1"]
    assert graph.consumers("documents.uploaded.v1") == ["b"]
    assert not graph.flagged(Edge("a", "produces", "documents.uploaded.v1"))
    assert graph.flagged(Edge("a", "produces", "documents.ready.v1"))
    assert graph.flagged(Edge("a", "consumes", "accounts.quota_exceeded.v1"))
    warnings = graph.warnings()
    assert warnings[0].startswith("accounts.quota_reserved.v1 (QuotaReserved) is produced by b")
    assert warnings[-1] == (
        "accounts.quota_exceeded.v1 (QuotaExceeded) is consumed by a but no service produces it"
    )
    assert "(only recorder records it)" in warnings[0]


def test_without_a_recorder_the_warning_says_nothing_records_it() -> None:
    lonely = Service("lonely", produces=[DocumentReady])
    graph = build_graph([lonely])
    assert graph.warnings() == [
        "documents.ready.v1 (DocumentReady) is produced by lonely but no service handles it"
    ]
    assert graph.every_event_consumers == []
    assert "every_event" not in render_mermaid(graph)


def test_a_service_named_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="named more than once: twin"):
        build_graph([Service("twin"), Service("twin")])


# -- renderers -------------------------------------------------------------

MERMAID_LINE = re.compile(
    r"^(flowchart LR"
    r"|  %% .*"
    r'|  svc_\w+\("[^"]+"\)'
    r'|  ev_\w+\[/"[^"]+"/\]'
    r'|  every_event\{\{"every event"\}\}'
    r"|  \w+ (-->|-\.->) \w+"
    r"|  classDef \w+ [\w:#,.\- ]+"
    r"|  class [\w,]+ \w+"
    r"|  linkStyle [\d,]+ [\w:#,.\- ]+)$"
)


def test_mermaid_is_a_flowchart_with_one_arrow_per_edge(reference: Graph) -> None:
    text = render_mermaid(reference)
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert [line for line in lines if not MERMAID_LINE.match(line)] == []
    arrows = [line for line in lines if "-->" in line or "-.->" in line]
    assert len(arrows) == len(reference.edges)
    assert "  svc_gateway --> ev_documents_uploaded_v1" in lines
    assert "  ev_documents_uploaded_v1 --> svc_accounts" in lines
    assert "  every_event -.-> svc_journal" in lines
    assert (
        "  class ev_exports_expired_v1,ev_exports_failed_v1,ev_exports_ready_v1,"
        "ev_jobs_failed_v1,ev_jobs_succeeded_v1,ev_notifications_sent_v1 warning" in lines
    )


def test_mermaid_marks_the_gaps_red_and_dashed() -> None:
    graph = synthetic()
    lines = render_mermaid(graph).splitlines()
    arrows = [line.strip() for line in lines if "-->" in line or "-.->" in line]
    flagged = [i for i, edge in enumerate(graph.edges) if graph.flagged(edge)]
    style = next(line for line in lines if line.startswith("  linkStyle"))
    assert style.split()[1] == ",".join(map(str, flagged))
    assert "stroke-dasharray" in style
    assert {arrows[i] for i in flagged} == {
        "svc_a --> ev_documents_ready_v1",
        "svc_b --> ev_accounts_quota_reserved_v1",
        "ev_accounts_quota_exceeded_v1 --> svc_a",
    }
    warned = next(line for line in lines if line.endswith(" warning") and "class " in line)
    assert set(warned.split()[1].split(",")) == {
        "ev_accounts_quota_exceeded_v1", "ev_accounts_quota_reserved_v1", "ev_documents_ready_v1",
    }  # fmt: skip


def test_dot_is_a_digraph_with_one_edge_per_declaration(reference: Graph) -> None:
    text = render_dot(reference)
    assert "digraph chorus {" in text
    assert text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")
    edges = [line for line in text.splitlines() if " -> " in line]
    assert len(edges) == len(reference.edges)
    assert '  "service:gateway" -> "event:documents.uploaded.v1";' in edges
    assert '  "event:*" -> "service:journal" [style=dotted];' in edges
    flagged = [line for line in edges if "dashed" in line]
    assert len(flagged) == 10  # the producers' edges to the six unconsumed events


def test_dot_marks_the_gaps() -> None:
    edges = [line for line in render_dot(synthetic()).splitlines() if " -> " in line]
    assert (
        '  "event:accounts.quota_exceeded.v1" -> "service:a" '
        '[color="#dd3333", fontcolor="#bb0000", style=dashed];'
    ) in edges


def test_the_svg_is_well_formed_and_draws_every_node_and_edge(reference: Graph) -> None:
    svg = ET.fromstring(render_svg(reference))
    ns = {"s": "http://www.w3.org/2000/svg"}
    paths = svg.findall("s:path", ns)
    assert len(paths) == len(reference.edges)
    assert sum("warning" in (p.get("class") or "") for p in paths) == 10
    texts = {t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")}
    assert {e.name for e in reference.events} <= texts
    assert {s.name for s in reference.services} <= texts
    assert "every event" in texts


def test_the_html_page_is_self_contained(reference: Graph) -> None:
    page = render_html(reference)
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page)
    assert "@import" not in page
    assert "url(http" not in page
    assert "jobs.failed.v1 (JobFailed) is produced by accounts, inspector" in page
    for service in reference.services:
        assert f"<b>{service.name}</b>" in page


# -- the command -------------------------------------------------------------


@pytest.fixture
def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the repository's root, where the command finds infra/services.txt."""
    monkeypatch.chdir(ROOT)


@pytest.mark.usefixtures("at_root")
def test_bus_graph_prints_mermaid_and_warns_on_stderr() -> None:
    result = bus("graph")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("flowchart LR\n")
    assert "every_event -.-> svc_journal" in result.stdout
    assert "warning: notifications.sent.v1 (NotificationSent) is produced by notifier" in (
        " ".join(result.stderr.split())
    )
    assert "warning:" not in result.stdout


@pytest.mark.usefixtures("at_root")
def test_bus_graph_writes_each_format(tmp_path: Path) -> None:
    for fmt, marker in (("dot", "digraph chorus {"), ("html", "<svg"), ("svg", "<svg")):
        out = tmp_path / f"graph.{fmt}"
        result = bus("graph", "--format", fmt, "--output", str(out))
        assert result.exit_code == 0, result.stderr
        assert result.stdout == ""
        assert marker in out.read_text()


@pytest.mark.usefixtures("at_root")
def test_bus_graph_takes_services_by_name_and_by_module() -> None:
    result = bus("graph", "--service", "gateway,notifier", "--service", "services.accounts:service")
    assert result.exit_code == 0, result.stderr
    assert "svc_gateway --> ev_documents_uploaded_v1" in result.stdout
    assert "ev_documents_uploaded_v1 --> svc_accounts" in result.stdout
    assert "svc_catalog" not in result.stdout
    declared = re.findall(r"^  (svc_\w+)\(", result.stdout, flags=re.MULTILINE)
    assert declared == ["svc_gateway", "svc_notifier", "svc_accounts"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--format", "png"], 2, "Invalid value for '--format'"),
        (["--service", "nope"], 1, "no service named 'nope'"),
        (["--service", "journal", "--service", "journal"], 1, "named more than once: journal"),
    ],
)
@pytest.mark.usefixtures("at_root")
def test_bus_graph_refuses_clearly(args: list[str], code: int, message: str) -> None:
    result = bus("graph", *args)
    assert result.exit_code == code
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_bus_graph_needs_a_service_list_outside_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = bus("graph")
    assert result.exit_code == 1
    assert "no infra/services.txt here" in result.stderr


def test_the_committed_diagrams_are_up_to_date() -> None:
    graph = build_graph(load_services(FLOW_ORDER))
    flow = ",".join(FLOW_ORDER)
    mmd = f"regenerate: bus graph --service {flow} -o docs/graph.mmd"
    html = f"regenerate: bus graph --service {flow} -f html -o docs/graph.html"
    assert (ROOT / "docs" / "graph.mmd").read_text() == render_mermaid(graph), mmd
    assert (ROOT / "docs" / "graph.html").read_text() == render_html(graph), html
