"""Reading traces back from console-exported spans (``bus trace``): spans made by the
OpenTelemetry SDK, written by the exporter's formatter the services use, among log lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Status, StatusCode
from rich.console import Console
from typer.testing import CliRunner, Result

from bus import RetryPolicy, Service, tracing
from bus.logs import JsonFormatter
from bus.testing import in_memory
from bus.tools.cli import app
from bus.tools.traceview import (
    SpanLines,
    SpanNode,
    Trace,
    TraceLookupError,
    find_trace,
    group_traces,
    read_files,
    render_list,
    render_trace,
    trace_json,
)
from contracts import DocumentUploaded
from tests.helpers import uploaded
from tests.spans import Spans

BASE = 1_800_000_000_000_000_000
"""Nanoseconds since the epoch where the spans of these tests start."""


class _Ids(RandomIdGenerator):
    """Random ids, except the trace ids a test asks for, handed out in order."""

    def __init__(self) -> None:
        self.trace_ids: list[int] = []

    def generate_trace_id(self) -> int:
        return self.trace_ids.pop(0) if self.trace_ids else super().generate_trace_id()


class Recorder:
    """Real SDK spans at the times asked, one tracer provider (resource) per service."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.ids = _Ids()
        self._tracers: dict[str, trace.Tracer] = {}

    def _tracer(self, service: str) -> trace.Tracer:
        if service not in self._tracers:
            resource = Resource.create(
                {"service.name": service, "service.instance.id": f"{service}-0"}
            )
            provider = TracerProvider(
                resource=resource, id_generator=self.ids, shutdown_on_exit=False
            )
            provider.add_span_processor(SimpleSpanProcessor(self.exporter))
            self._tracers[service] = provider.get_tracer("tests")
        return self._tracers[service]

    def span(
        self,
        service: str,
        name: str,
        *,
        parent: trace.Span | None = None,
        at: float = 0.0,
        took: float = 1.0,
        attributes: Mapping[str, str] | None = None,
        error: str | None = None,
        retries: int = 0,
        trace_id: int | None = None,
    ) -> trace.Span:
        """A finished span starting ``at`` ms after BASE and lasting ``took`` ms."""
        if trace_id is not None:
            self.ids.trace_ids.append(trace_id)
        span = self._tracer(service).start_span(
            name,
            context=trace.set_span_in_context(parent) if parent is not None else Context(),
            start_time=_ns(at),
            attributes={tracing.SERVICE_ATTRIBUTE: service, **(attributes or {})},
        )
        for attempt in range(retries):
            span.add_event("retry", {"attempt": attempt + 1}, timestamp=_ns(at))
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=_ns(at + took))
        return span

    def lines(self, without: Iterable[trace.Span] = ()) -> list[str]:
        """Each finished span as the console exporter writes it, except those ``without``."""
        dropped = {span.get_span_context().span_id for span in without}
        return [
            tracing._one_line(span)
            for span in self.exporter.get_finished_spans()
            if span.context is not None and span.context.span_id not in dropped
        ]


def _ns(ms: float) -> int:
    return BASE + round(ms * 1_000_000)


def hex_trace(span: trace.Span) -> str:
    return trace.format_trace_id(span.get_span_context().trace_id)


def hex_span(span: trace.Span) -> str:
    return trace.format_span_id(span.get_span_context().span_id)


class Upload:
    """One upload's trace through three services, its spans made out of start order.

    ::

        POST /documents                            gateway   +0
          publish documents.uploaded.v1            gateway  +10  (event E1, correlation C1)
            process documents.uploaded.v1          journal  +20  via catch-up
            process documents.uploaded.v1          accounts +30
              publish accounts.quota_reserved.v1   accounts +60  (event E2, correlation C1)
                process accounts.quota_reserved.v1 catalog  +90  dead-lettered, 2 retries
            process documents.uploaded.v1          journal  +40  duplicate, via replay
    """

    def __init__(self, recorder: Recorder, *, trace_id: int | None = None, at: float = 0) -> None:
        r = recorder
        self.request = r.span("gateway", "POST /documents", at=at, took=20, trace_id=trace_id)
        uploaded = {"cloudevents.event_id": "E1", "chorus.correlation_id": "C1"}
        self.publish = r.span(
            "gateway", "publish documents.uploaded.v1", parent=self.request, at=at + 10,
            took=5, attributes=uploaded,
        )  # fmt: skip
        delivery = {**uploaded, "chorus.outcome": "handled", "chorus.delivered_via": "broker"}
        self.accounts = r.span(
            "accounts", "process documents.uploaded.v1", parent=self.publish, at=at + 30,
            took=50, attributes=delivery,
        )  # fmt: skip
        self.duplicate = r.span(
            "journal", "process documents.uploaded.v1", parent=self.publish, at=at + 40,
            took=1, attributes=delivery | {"chorus.outcome": "duplicate",
                                           "chorus.delivered_via": "replay"},
        )  # fmt: skip
        self.journal = r.span(
            "journal", "process documents.uploaded.v1", parent=self.publish, at=at + 20,
            took=5, attributes=delivery | {"chorus.delivered_via": "catch-up"},
        )  # fmt: skip
        reserved = {"cloudevents.event_id": "E2", "chorus.correlation_id": "C1"}
        self.reserve = r.span(
            "accounts", "publish accounts.quota_reserved.v1", parent=self.accounts, at=at + 60,
            took=5, attributes=reserved,
        )  # fmt: skip
        self.catalog = r.span(
            "catalog", "process accounts.quota_reserved.v1", parent=self.reserve, at=at + 90,
            took=10, attributes=reserved | {"chorus.outcome": "dead-lettered"},
            error="ValueError: boom", retries=2,
        )  # fmt: skip
        self.trace_id = hex_trace(self.request)


def shape(nodes: Iterable[SpanNode], depth: int = 0) -> list[tuple[int, str, str, bool]]:
    """(depth, name, service, orphan) of every span, in tree order."""
    found = []
    for node in nodes:
        found.append((depth, node.span.name, node.span.service, node.orphan))
        found += shape(node.children, depth + 1)
    return found


def one_trace(lines: list[str]) -> Trace:
    read = SpanLines()
    read.add(lines)
    [found] = group_traces(read.spans)
    return found


def log_line(message: str) -> str:
    record = logging.LogRecord("bus.pipeline", logging.INFO, __file__, 1, message, None, None)
    return JsonFormatter().format(record)


def text_of(renderable: object, width: int = 160) -> str:
    console = Console(width=width, record=True, soft_wrap=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


# -- reading ---------------------------------------------------------------------------


def test_only_span_lines_are_read_among_logs_and_garbage() -> None:
    recorder = Recorder()
    upload = Upload(recorder)
    spans = recorder.lines()
    broken_id = json.loads(spans[0])
    broken_id["context"]["trace_id"] = "0xnot-hex"
    lines = [
        log_line("catalog started"),
        log_line('a "context" in a message, escaped'),
        "plain text from a library\n",
        "",
        "{not json",
        json.dumps({"message": "x", "context": {"user": "bob"}}),  # a log line, no span
        "[1, 2]",
        spans[0][: len(spans[0]) // 2],  # truncated: the process died writing it
        json.dumps(broken_id),
        f"catalog-1  | {spans[1]}",  # a prefix added by a log collector
        *spans[2:],
    ]
    read = SpanLines()
    read.add(lines)
    assert read.unreadable == 2
    assert len(read.spans) == len(spans) - 1
    [catalog] = [s for s in read.spans if s.name == "process accounts.quota_reserved.v1"]
    assert catalog.trace_id == upload.trace_id
    assert catalog.span_id == hex_span(upload.catalog)
    assert catalog.parent_id == hex_span(upload.reserve)
    assert catalog.service == "catalog"
    assert catalog.instance == "catalog-0"
    assert catalog.kind == "SpanKind.INTERNAL"
    assert catalog.duration_ms == pytest.approx(10)
    assert catalog.error
    assert catalog.failed
    assert catalog.status.description == "ValueError: boom"
    assert catalog.outcome == "dead-lettered"
    assert catalog.retries == 2
    assert (catalog.event_id, catalog.correlation_id) == ("E2", "C1")


def test_files_and_standard_input_are_read_and_a_missing_file_is_an_error(
    tmp_path: Path,
) -> None:
    recorder = Recorder()
    Upload(recorder)
    lines = recorder.lines()
    first, second = tmp_path / "svc-gateway-0.log", tmp_path / "svc-catalog-0.log"
    first.write_text("".join(lines[:3]) + "garbage \xff\n")
    second.write_text("".join(lines[3:]))
    read = read_files([first, "-"], stdin=io.StringIO(second.read_text()))
    assert len(read.spans) == len(lines)
    with pytest.raises(FileNotFoundError):
        read_files([tmp_path / "nothing.log"])


# -- traces ----------------------------------------------------------------------------


def test_spans_nest_under_their_parents_in_start_order() -> None:
    recorder = Recorder()
    upload = Upload(recorder)
    found = one_trace(recorder.lines())
    assert found.trace_id == upload.trace_id
    assert shape(found.roots) == [
        (0, "POST /documents", "gateway", False),
        (1, "publish documents.uploaded.v1", "gateway", False),
        (2, "process documents.uploaded.v1", "journal", False),  # +20
        (2, "process documents.uploaded.v1", "accounts", False),  # +30
        (3, "publish accounts.quota_reserved.v1", "accounts", False),
        (4, "process accounts.quota_reserved.v1", "catalog", False),
        (2, "process documents.uploaded.v1", "journal", False),  # +40
    ]
    assert found.complete
    assert found.root.name == "POST /documents"
    assert found.services == ("gateway", "journal", "accounts", "catalog")
    assert found.errors == 1
    assert found.duration_ms == pytest.approx(100)
    assert found.last.name == "process accounts.quota_reserved.v1"


def test_spans_whose_parent_was_not_read_are_roots_of_their_own() -> None:
    recorder = Recorder()
    upload = Upload(recorder)
    found = one_trace(recorder.lines(without=[upload.publish]))
    assert shape(found.roots) == [
        (0, "POST /documents", "gateway", False),
        (0, "process documents.uploaded.v1", "journal", True),
        (0, "process documents.uploaded.v1", "accounts", True),
        (1, "publish accounts.quota_reserved.v1", "accounts", False),
        (2, "process accounts.quota_reserved.v1", "catalog", False),
        (0, "process documents.uploaded.v1", "journal", True),
    ]
    assert found.complete

    headless = one_trace(recorder.lines(without=[upload.request]))
    assert not headless.complete
    assert headless.root.name == "publish documents.uploaded.v1"
    assert [(d, orphan) for d, _, _, orphan in shape(headless.roots)][:2] == [
        (0, True),
        (1, False),
    ]


def test_traces_are_listed_newest_first_and_a_span_read_twice_counts_once() -> None:
    recorder = Recorder()
    older, newer = Upload(recorder), Upload(recorder, at=5_000)
    read = SpanLines()
    read.add(recorder.lines() + recorder.lines())
    traces = group_traces(read.spans)
    assert [t.trace_id for t in traces] == [newer.trace_id, older.trace_id]
    assert [len(t.spans) for t in traces] == [7, 7]


# -- finding one -----------------------------------------------------------------------


@pytest.fixture
def uploads() -> tuple[list[Trace], Upload, Upload]:
    recorder = Recorder()
    first = Upload(recorder, trace_id=0xABCDEF01 << 96)
    second = Upload(recorder, trace_id=0xABCDEF02 << 96, at=1_000)
    read = SpanLines()
    read.add(recorder.lines())
    return group_traces(read.spans), first, second


@pytest.mark.parametrize(
    "key",
    [
        "abcdef01000000000000000000000000",
        "0xABCDEF01000000000000000000000000",
        "abcdef01",
        "0xABCDEF01",
    ],
)
def test_a_trace_is_found_by_its_id_or_a_unique_prefix(
    uploads: tuple[list[Trace], Upload, Upload], key: str
) -> None:
    traces, first, _ = uploads
    assert find_trace(traces, key).trace_id == first.trace_id


def test_a_trace_is_found_by_an_event_id_or_a_correlation_id(
    uploads: tuple[list[Trace], Upload, Upload],
) -> None:
    recorder = Recorder()
    other = Upload(recorder)
    event = json.loads(recorder.lines()[1])  # the publish of documents.uploaded.v1
    event["attributes"] |= {"cloudevents.event_id": "ev-7", "chorus.correlation_id": "corr-7"}
    read = SpanLines()
    read.add([json.dumps(event)])
    traces = uploads[0] + group_traces(read.spans)
    assert find_trace(traces, "ev-7").trace_id == other.trace_id
    assert find_trace(traces, " corr-7 ").trace_id == other.trace_id


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("abcdef", "'abcdef' is ambiguous: it starts 2 trace ids (abcdef02"),
        ("C1", "'C1' is an event or correlation id in 2 traces"),
        ("abc", "'abc' is too short: give at least 6 hex digits of a trace id"),
        ("0123456789", "no trace with id, event id or correlation id '0123456789' among 2"),
        ("no-such-event", "no trace with id, event id or correlation id 'no-such-event'"),
    ],
)
def test_an_ambiguous_or_unknown_id_is_refused_with_the_reason(
    uploads: tuple[list[Trace], Upload, Upload], key: str, message: str
) -> None:
    with pytest.raises(TraceLookupError, match="^" + message.replace("(", r"\(")):
        find_trace(uploads[0], key)


# -- drawing ---------------------------------------------------------------------------


def test_the_tree_shows_each_span_with_its_service_times_and_what_went_unusually() -> None:
    recorder = Recorder()
    upload = Upload(recorder)
    found = one_trace(recorder.lines(without=[upload.reserve]))
    lines = text_of(render_trace(found)).splitlines()
    assert lines[:-1] == [
        f"trace {upload.trace_id}    service   start    took",
        "├── POST /documents                       gateway  + 0 ms 20.0 ms",
        "│   └── publish documents.uploaded.v1     gateway  +10 ms  5.0 ms",
        "│       ├── process documents.uploaded.v1 journal  +20 ms  5.0 ms  via catch-up",
        "│       ├── process documents.uploaded.v1 accounts +30 ms 50.0 ms",
        "│       └── process documents.uploaded.v1 journal  +40 ms  1.0 ms  duplicate  via replay",
        "└── process accounts.quota_reserved.v1    catalog  +90 ms 10.0 ms  (parent not found)  "
        "dead-lettered  2 retries  ERROR: ValueError: boom",
    ]
    assert lines[-1] == (
        "6 span(s) across 4 service(s) (gateway, journal, accounts, catalog); 100.0 ms from "
        "first start to last end; the last to end: process accounts.quota_reserved.v1 "
        "(catalog) at +100 ms; 1 failed; 1 span(s) whose parent was not read"
    )


def test_a_narrow_terminal_cuts_names_but_shows_every_marker() -> None:
    recorder = Recorder()
    Upload(recorder)
    found = one_trace(recorder.lines())
    lines = text_of(render_trace(found, width=64), width=64).splitlines()[:-1]
    assert max(len(line) for line in lines) <= 64
    assert lines[7].endswith("└── process accounts.qu… catalog  +90 ms 10.0 ms")
    assert [line.strip("│ ") for line in lines[8:10]] == [
        "dead-lettered  2 retries  ERROR:",
        "ValueError: boom",
    ]
    assert lines[4].strip("│ ") == "via catch-up"


def test_the_list_and_the_json_say_the_same() -> None:
    recorder = Recorder()
    older, newer = Upload(recorder), Upload(recorder, at=5_000)
    read = SpanLines()
    read.add(recorder.lines(without=[newer.request]))
    traces = group_traces(read.spans)
    rows = text_of(render_list(traces, total=2)).splitlines()
    [newest] = [row for row in rows if newer.trace_id[:12] in row]
    [oldest] = [row for row in rows if older.trace_id[:12] in row]
    assert rows.index(newest) < rows.index(oldest)
    assert "publish documents.uploaded.v1 (parent not found)" in newest
    assert "POST /documents" in oldest
    assert [cell.strip() for cell in oldest.split("│")[4:8]] == [
        "100.0 ms",
        "7",
        "gateway, journal, accounts, catalog",
        "1",
    ]
    document = trace_json(traces[1])
    assert document["trace_id"] == older.trace_id
    assert (document["span_count"], document["errors"], document["root_found"]) == (7, 1, True)
    assert [(s["depth"], s["service"]) for s in document["spans"]] == [
        (0, "gateway"), (1, "gateway"), (2, "journal"), (2, "accounts"), (3, "accounts"),
        (4, "catalog"), (2, "journal"),
    ]  # fmt: skip
    assert document["last"]["end_offset_ms"] == 100.0
    json.dumps(document)  # plain JSON


# -- the command -----------------------------------------------------------------------


def bus_trace(*args: str, env: Mapping[str, str] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, ["trace", *args], env=env, input=stdin)


@pytest.fixture
def stack(tmp_path: Path) -> tuple[Path, Upload, Upload]:
    """A stack folder whose services' logs hold two uploads' spans among log lines."""
    recorder = Recorder()
    older, newer = Upload(recorder), Upload(recorder, at=5_000)
    logs = tmp_path / "stack" / "logs"
    logs.mkdir(parents=True)
    by_service: dict[str, list[str]] = {}
    for line in recorder.lines():
        by_service.setdefault(
            json.loads(line)["resource"]["attributes"]["service.name"], []
        ).append(line)
    for service, lines in by_service.items():
        text = log_line(f"{service} started") + "\n" + "".join(lines) + "Traceback: text\n"
        (logs / f"svc-{service}-0.log").write_text(text)
    (logs / "mosquitto.log").write_text("not a service log\n")
    return tmp_path / "stack", older, newer


def test_the_command_lists_the_traces_of_the_stack_logs(
    stack: tuple[Path, Upload, Upload],
) -> None:
    folder, older, newer = stack
    result = bus_trace(env={"CHORUS_STACK_DIR": str(folder)})
    assert result.exit_code == 0, result.output
    rows = result.stdout.splitlines()
    [first] = [i for i, row in enumerate(rows) if newer.trace_id[:12] in row]
    [second] = [i for i, row in enumerate(rows) if older.trace_id[:12] in row]
    assert first < second
    assert "POST /documents" in rows[first]
    assert "gateway, journal, accounts, catalog" in rows[first]
    assert "2 of 2 trace(s), newest first" in result.stdout

    result = bus_trace("--last", "1", "--json", env={"CHORUS_STACK_DIR": str(folder)})
    assert result.exit_code == 0, result.output
    [listed] = json.loads(result.stdout)
    assert listed["trace_id"] == newer.trace_id
    assert (listed["span_count"], listed["errors"], listed["duration_ms"]) == (7, 1, 100.0)


def test_the_command_draws_one_trace_found_by_prefix_event_or_correlation_id(
    stack: tuple[Path, Upload, Upload],
) -> None:
    folder, older, _ = stack
    logs = sorted(str(path) for path in (folder / "logs").glob("svc-*.log"))
    result = bus_trace(*logs, "--id", older.trace_id[:8])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"trace {older.trace_id}")
    assert lines[1].startswith("└── POST /documents ")
    assert lines[6].startswith("        │       └── process accounts.quota_reserved.v1 catalog ")
    assert "dead-lettered  2 retries  ERROR: ValueError: boom" in lines[6]
    assert lines[-1].startswith("7 span(s) across 4 service(s)")

    result = bus_trace(*logs, "--id", "0x" + older.trace_id.upper(), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [span["name"] for span in document["spans"]][:2] == [
        "POST /documents",
        "publish documents.uploaded.v1",
    ]
    assert document["spans"][5]["outcome"] == "dead-lettered"


def test_the_command_reads_standard_input(stack: tuple[Path, Upload, Upload]) -> None:
    folder, older, newer = stack
    text = "".join(path.read_text() for path in sorted((folder / "logs").glob("svc-*.log")))
    result = bus_trace("-", "--json", stdin=text)
    assert result.exit_code == 0, result.output
    assert [t["trace_id"] for t in json.loads(result.stdout)] == [newer.trace_id, older.trace_id]


def test_the_command_warns_of_span_lines_it_could_not_read(tmp_path: Path) -> None:
    recorder = Recorder()
    Upload(recorder)
    lines = recorder.lines()
    log = tmp_path / "svc.log"
    log.write_text("".join(lines) + lines[0][:80] + "\n")
    result = bus_trace(str(log))
    assert result.exit_code == 0, result.output
    assert "warning: skipped 1 span line(s) that could not be read" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--id", "feedface"], "error: no trace with id, event id or correlation id 'feedface'"),
        (["--id", "C1"], "error: 'C1' is an event or correlation id in 2 traces"),
        (["{logs}/nothing.log"], "error: cannot read {logs}/nothing.log: No such file"),
        (["{logs}/mosquitto.log"], "error: no spans in 1 file(s): were the services started"),
        (["-"], "error: no spans in standard input"),
    ],
)
def test_the_command_refuses_with_one_line(
    stack: tuple[Path, Upload, Upload], args: list[str], message: str
) -> None:
    logs = str(stack[0] / "logs")
    result = bus_trace(
        *[arg.format(logs=logs) for arg in args],
        env={"CHORUS_STACK_DIR": str(stack[0])},
        stdin="no spans here\n",
    )
    assert result.exit_code == 1
    assert message.format(logs=logs) in " ".join(result.stderr.split())
    assert result.stdout == ""


def test_the_command_says_where_it_found_no_logs(tmp_path: Path) -> None:
    result = bus_trace(env={"CHORUS_STACK_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert f"error: no service logs (svc-*.log) in {tmp_path}/logs: start the stack with" in (
        " ".join(result.stderr.split())
    )


def desk() -> Service:
    """Relays alice's uploads to itself as bob's, and fails on bob's."""
    service = Service("desk", retry=RetryPolicy(attempts=2, initial_delay=0.01))

    @service.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded) -> None:
        if event.owner == "bob":
            raise ConnectionError("store down")
        await service.publish(event.model_copy(update={"owner": "bob"}))

    return service


async def test_spans_of_the_real_bus_through_the_real_exporter_are_drawn_as_one_tree(
    spans: Spans, tmp_path: Path
) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        with trace.get_tracer("test").start_as_current_span(
            "POST /documents", attributes={tracing.SERVICE_ATTRIBUTE: "gateway"}
        ) as request:
            async with in_memory(desk()) as bus:
                await bus.publish(uploaded(owner="alice"))
    finally:
        logging.getLogger().removeHandler(handler)
    logged = out.getvalue()
    assert '"trace_id"' in logged  # log lines name the trace too, and are not spans
    exporter = ConsoleSpanExporter(out=out, formatter=tracing._one_line)
    exporter.export(spans.all())
    log = tmp_path / "svc-desk-0.log"
    log.write_text(out.getvalue() + "plain text\n")

    trace_id = trace.format_trace_id(request.get_span_context().trace_id)
    result = bus_trace(str(log), "--id", trace_id)
    assert result.exit_code == 0, result.output
    tree = [" ".join(line.replace("│", " ").split()[:4]) for line in result.stdout.splitlines()]
    assert tree[1:-1] == [
        "└── POST /documents gateway",
        "└── publish documents.uploaded.v1 ?",
        "└── process documents.uploaded.v1 desk",
        "└── publish documents.uploaded.v1 desk",
        "└── process documents.uploaded.v1 desk",
    ]
    last = result.stdout.splitlines()[-2]
    assert "dead-lettered  1 retry  ERROR: ConnectionError: store down" in last
    assert result.stdout.splitlines()[-1].startswith("5 span(s) across 3 service(s)")
    assert f"{trace_id[:12]}" in bus_trace(str(log)).stdout


def test_spans_whose_parents_point_at_each_other_are_still_shown() -> None:
    recorder = Recorder()
    upload = Upload(recorder)
    lines = [json.loads(line) for line in recorder.lines()]
    for line in lines:  # no exporter writes this; a hand-edited file might
        if line["context"]["span_id"] == f"0x{hex_span(upload.request)}":
            line["parent_id"] = f"0x{hex_span(upload.publish)}"
    found = one_trace([json.dumps(line) for line in lines])
    assert not found.complete
    assert sum(len(shape([node])) for node in found.roots) == 7
    assert [(depth, orphan) for depth, _, _, orphan in shape(found.roots)][:3] == [
        (0, True),
        (1, False),
        (2, False),
    ]
