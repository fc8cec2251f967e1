"""A service run by ``bus run`` exports its spans as ``BUS_TRACING`` says: to an OTLP/HTTP
collector (a real HTTP server here, decoding the protobuf requests) or to the console."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bus import BusSettings, Publisher
from tests.faults.conftest import ServiceProcess, consumer_env
from tests.helpers import eventually, uploaded
from tests.spans import Spans

SERVICE = "tests.integration.logging_service:service"


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver keeping each span with its resource's attributes."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receive)
        self.spans: list[tuple[dict[str, Any], Any]] = []
        self.paths: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Receive(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest.FromString(body)
        self.server.paths.append(self.path)
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                self.server.spans.extend((resource, span) for span in scope_spans.spans)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


async def _publish_in_a_trace(settings: BusSettings) -> tuple[str, int, int]:
    """Publish one event under a span of the test; its event id, trace id and span id."""
    async with Publisher(settings=settings) as publisher:
        with trace.get_tracer("test").start_as_current_span("test"):
            envelope = await publisher.publish(uploaded())
    assert envelope.traceparent is not None
    _, trace_hex, span_hex, _ = envelope.traceparent.split("-")
    return envelope.id, int(trace_hex, 16), int(span_hex, 16)


async def test_a_service_exports_its_spans_to_an_otlp_collector(
    settings: BusSettings,
    collector: Collector,
    spans: Spans,
    tmp_path: Path,
    unique: Callable[[str], str],
) -> None:
    name = unique("traced")
    env = consumer_env(
        settings, name, BUS_TRACING="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",
    )  # fmt: skip
    process = ServiceProcess(SERVICE, "t1", env, tmp_path)
    await process.start()
    try:
        event_id, trace_id, publish_span_id = await _publish_in_a_trace(settings)

        def exported() -> list[Any]:
            return [s for _, s in collector.spans if s.trace_id == trace_id.to_bytes(16, "big")]

        await eventually(lambda: bool(exported()), within=20, what="the span at the collector")
    finally:
        await process.stop()

    [span] = exported()
    [resource] = [r for r, s in collector.spans if s is span]
    assert collector.paths[0] == "/v1/traces"
    assert span.name == "process documents.uploaded.v1"
    assert span.parent_span_id == publish_span_id.to_bytes(8, "big")
    attributes = {a.key: a.value.string_value for a in span.attributes}
    assert attributes["cloudevents.event_id"] == event_id
    assert attributes["chorus.outcome"] == "handled"
    assert resource["service.name"] == name
    assert resource["service.instance.id"] == f"{name}-t1"


async def test_a_service_prints_its_spans_on_the_console(
    settings: BusSettings, spans: Spans, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    name = unique("traced")
    env = consumer_env(settings, name, BUS_TRACING="console", OTEL_BSP_SCHEDULE_DELAY="100")
    process = ServiceProcess(SERVICE, "t2", env, tmp_path)
    await process.start()
    try:
        event_id, trace_id, _ = await _publish_in_a_trace(settings)
        wanted = f"0x{trace_id:032x}"

        def printed() -> list[dict[str, Any]]:
            lines = [json.loads(x) for x in process.log.read_text().splitlines() if x[:1] == "{"]
            return [x for x in lines if x.get("context", {}).get("trace_id") == wanted]

        await eventually(lambda: bool(printed()), within=20, what="the span in the log")
    finally:
        await process.stop()
    [span] = printed()
    assert span["name"] == "process documents.uploaded.v1"
    assert span["attributes"]["cloudevents.event_id"] == event_id
    assert span["resource"]["attributes"]["service.name"] == name
    # The log lines of that handling carry the same trace id, to go from one to the other.
    lines = [json.loads(x) for x in process.log.read_text().splitlines() if x[:1] == "{"]
    [handled] = [x for x in lines if x.get("message", "").startswith("handled the upload")]
    assert handled["event_id"] == event_id
    assert handled["trace_id"] == f"{trace_id:032x}"
    assert handled["span_id"] == span["context"]["span_id"].removeprefix("0x")
