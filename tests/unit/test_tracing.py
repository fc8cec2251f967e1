"""The trace context in the CloudEvents envelope, and the spans of handling, on the in-memory
broker (the real services' traces are in tests/system/test_trace.py)."""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import ValidationError

from bus import BusSettings, Envelope, RetryPolicy, Service, tracing
from bus.logs import JsonFormatter
from bus.testing import in_memory
from contracts import DocumentUploaded
from tests.helpers import uploaded
from tests.spans import Spans

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _named(spans: Spans, name: str) -> list[ReadableSpan]:
    return [s for s in spans.all() if s.name == name]


def _id(span: ReadableSpan) -> int:
    assert span.context is not None
    span_id: int = span.context.span_id
    return span_id


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def test_an_envelope_carries_its_trace_context_over_the_wire() -> None:
    sent = Envelope.wrap(
        uploaded(), source="/t/1", trace={"traceparent": PARENT, "tracestate": "chorus=1"}
    )
    received = Envelope.from_bytes(sent.to_bytes())
    assert json.loads(sent.to_bytes())["traceparent"] == PARENT
    assert received.traceparent == PARENT
    assert received.tracestate == "chorus=1"
    assert tracing.trace_id(received) == "0af7651916cd43dd8448eb211c80319c"
    assert received.extensions() == {}


@pytest.mark.parametrize(
    "value", [5, "not-a-traceparent", "00-" + "0" * 32 + "-" + "0" * 16 + "-01"]
)
def test_a_malformed_trace_context_is_ignored_and_the_event_stays_valid(value: object) -> None:
    sent = Envelope.wrap(uploaded(), source="/t/1")
    document = json.loads(sent.to_bytes()) | {"traceparent": value}
    received = Envelope.from_bytes(json.dumps(document).encode())
    assert tracing.trace_id(received) is None


def relay() -> Service:
    service = Service("relay")

    @service.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded) -> None:
        if event.owner != "relayed":
            await service.publish(event.model_copy(update={"owner": "relayed"}))

    return service


async def test_a_handler_continues_the_trace_of_the_event_it_handles(spans: Spans) -> None:
    with trace.get_tracer("test").start_as_current_span("caller") as caller:
        async with in_memory(relay()) as bus:
            sent = await bus.publish(uploaded())
    [relayed] = bus.of_type(DocumentUploaded)
    trace_id = caller.get_span_context().trace_id
    assert tracing.trace_id(sent) == trace.format_trace_id(trace_id)
    assert tracing.trace_id(relayed) == tracing.trace_id(sent)

    [first_publish] = [s for s in _named(spans, "publish documents.uploaded.v1")
                       if Spans.service(s) is None]  # fmt: skip
    [process] = [s for s in _named(spans, "process documents.uploaded.v1")
                 if (s.attributes or {}).get("cloudevents.event_id") == sent.id]  # fmt: skip
    [second_publish] = [s for s in _named(spans, "publish documents.uploaded.v1")
                        if Spans.service(s) == "relay"]  # fmt: skip
    assert first_publish.kind is SpanKind.PRODUCER
    assert process.kind is SpanKind.CONSUMER
    assert _parent_id(process) == _id(first_publish)
    assert _parent_id(second_publish) == _id(process)
    assert process.attributes is not None
    assert process.attributes["cloudevents.event_id"] == sent.id
    assert process.attributes["chorus.outcome"] == "handled"
    assert process.attributes["chorus.delivered_via"] == "broker"
    assert process.attributes[tracing.SERVICE_ATTRIBUTE] == "relay"
    assert relayed.traceparent is not None
    assert trace.format_span_id(_id(second_publish)) in relayed.traceparent
    assert {s.context.trace_id for s in spans.all() if s.context} == {trace_id}


async def test_an_event_without_a_trace_context_starts_a_trace(spans: Spans) -> None:
    sent = Envelope.wrap(uploaded(), source="/t/1")
    async with in_memory(relay()) as bus:
        await bus.publish_envelope(sent)
    [process] = [
        span
        for span in _named(spans, "process documents.uploaded.v1")
        if span.attributes and span.attributes.get("messaging.message.id") == sent.id
    ]
    assert process.parent is None
    [relayed] = bus.of_type(DocumentUploaded)
    assert process.context is not None
    assert tracing.trace_id(relayed) == trace.format_trace_id(process.context.trace_id)


async def test_a_dead_lettered_event_marks_its_span_failed_with_the_retries(spans: Spans) -> None:
    service = Service("broken", retry=RetryPolicy(attempts=3, initial_delay=0.01))

    @service.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded) -> None:
        raise ConnectionError("store down")

    async with in_memory(service) as bus:
        await bus.publish(uploaded())
        await bus.publish_raw(b"{not json", "documents/uploaded/v1")
    [failed] = _named(spans, "process documents.uploaded.v1")
    [poison] = _named(spans, "process documents/uploaded/v1")  # no type: named by its topic
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "ConnectionError: store down"
    assert failed.attributes is not None
    assert failed.attributes["chorus.outcome"] == "dead-lettered"
    assert [e.name for e in failed.events] == ["retry", "retry", "exception"]
    assert poison.status.status_code is StatusCode.ERROR
    assert poison.parent is None
    assert len(bus.dead_letters.letters) == 2


def test_json_logs_carry_the_trace_and_span_ids(spans: Spans) -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "hello", None, None)
    with trace.get_tracer("test").start_as_current_span("work") as span:
        line = json.loads(JsonFormatter().format(record))
    context = span.get_span_context()
    assert line["trace_id"] == trace.format_trace_id(context.trace_id)
    assert line["span_id"] == trace.format_span_id(context.span_id)
    assert "trace_id" not in json.loads(JsonFormatter().format(record))


def test_the_exporter_is_chosen_by_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tracing.build_provider(tracing.TracingExporter.OFF, service="s", instance="1") is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces")
    for kind, expected in [
        (tracing.TracingExporter.CONSOLE, ConsoleSpanExporter),
        (tracing.TracingExporter.OTLP, OTLPSpanExporter),
    ]:
        provider = tracing.build_provider(kind, service="svc", instance="2", version="1.2")
        assert provider is not None
        [processor] = provider._active_span_processor._span_processors
        assert isinstance(processor, BatchSpanProcessor)
        exporter = processor._batch_processor._exporter
        assert isinstance(exporter, expected)
        if isinstance(exporter, OTLPSpanExporter):
            assert exporter._endpoint == "http://collector:4318/v1/traces"
        assert provider.resource.attributes["service.name"] == "svc"
        assert provider.resource.attributes["service.instance.id"] == "svc-2"
        assert provider.resource.attributes["service.version"] == "1.2"
        provider.shutdown()


def test_console_spans_are_one_json_object_per_line(spans: Spans) -> None:
    out = io.StringIO()
    exporter = ConsoleSpanExporter(out=out, formatter=tracing._one_line)
    with trace.get_tracer("test").start_as_current_span("work"):
        pass
    exporter.export(spans.all())
    [line] = out.getvalue().splitlines()
    assert json.loads(line)["name"] == "work"


def test_an_unknown_exporter_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUS_TRACING", "jaeger")
    with pytest.raises(ValidationError, match="'off', 'console' or 'otlp'"):
        BusSettings()


def test_while_nothing_is_recorded_a_handler_s_publish_carries_the_event_s_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tracing, "recording", lambda: False)
    received = Envelope.wrap(uploaded(), source="/t/1", trace={"traceparent": PARENT})
    with tracing.processing("svc", "documents/uploaded/v1", received) as span:
        assert not span.is_recording()
        span.set_attribute("ignored", 1)  # what the pipeline does: harmless
        with tracing.publishing("svc", uploaded(2), "t", source="/svc/1") as sent:
            assert sent.traceparent == PARENT
    with tracing.publishing("svc", uploaded(3), "t", source="/svc/1") as outside:
        assert outside.traceparent is None  # the event's context ended with its handling
    untraced = Envelope.wrap(uploaded(), source="/t/1")
    with (
        tracing.processing("svc", "documents/uploaded/v1", untraced),
        tracing.publishing("svc", uploaded(4), "t", source="/svc/1") as sent,
    ):
        assert sent.traceparent is None
