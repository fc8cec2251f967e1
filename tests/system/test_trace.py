"""One upload is one OpenTelemetry trace across every service, its context carried in each
CloudEvent's ``traceparent`` over the real broker, Redis (jobs) and the journal."""

from __future__ import annotations

from collections import Counter

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, format_trace_id

from bus import Envelope, tracing
from bus.journal import JournalEntry, chain
from tests.helpers import eventually
from tests.spans import Spans
from tests.system.conftest import Pipeline
from tests.system.test_intake import journaled, settle, upload

pytestmark = pytest.mark.timeout(180)

EVERY_SERVICE = {"gateway", "accounts", "inspector", "catalog", "notifier", "journal"}


def _attribute(span: ReadableSpan, name: str) -> object:
    return (span.attributes or {}).get(name)


def _role(span: ReadableSpan) -> str:
    """``inspector`` for the service ``inspector-3f2a9c`` (the test's unique names)."""
    service = Spans.service(span)
    assert service is not None, f"span {span.name} names no service"
    return service.rsplit("-", 1)[0]


async def test_one_upload_is_one_trace_whose_spans_cover_every_service(
    pipeline: Pipeline, spans: Spans
) -> None:
    _, token = await pipeline.user("grace@example.com", max_documents=5)
    async with pipeline.client(token) as http:
        document_id, location = await upload(http, "english.txt", "text/plain")
        assert (await settle(http, location))["status"] == "ready"

    [root_entry] = [e for e in await journaled(document_id) if e.type == "documents.uploaded.v1"]
    events: list[JournalEntry] = []

    async def whole_chain_processed_by_the_journal() -> bool:
        events[:] = await chain(root_entry.id)
        recorded = {
            _attribute(s, "cloudevents.event_id")
            for s in spans.all()
            if s.kind is SpanKind.CONSUMER and _role(s) == "journal"
        }
        # Only what is journaled so far: whole once NotificationSent (published after the
        # mail is sent) and JobSucceeded (after the inspection's own events) are in it.
        late = {"notifications.sent.v1", "jobs.succeeded.v1"} <= {e.type for e in events}
        return late and {e.id for e in events} <= recorded

    await eventually(whole_chain_processed_by_the_journal, within=30, what="the whole chain")

    # Every event of the chain carries the same trace id in its envelope.
    trace_ids = {tracing.trace_id(Envelope.model_validate(e.envelope)) for e in events}
    assert len(trace_ids) == 1, trace_ids
    [trace_hex] = trace_ids
    assert trace_hex is not None
    trace = [
        s for s in spans.all() if s.context and format_trace_id(s.context.trace_id) == trace_hex
    ]

    # One root: the upload request; every other span hangs from a span of the trace.
    ids = {s.context.span_id for s in trace if s.context}
    roots = [s for s in trace if s.parent is None]
    assert [(r.kind, _role(r)) for r in roots] == [(SpanKind.SERVER, "gateway")]
    assert "POST /documents" in roots[0].name
    orphans = [s.name for s in trace if s.parent is not None and s.parent.span_id not in ids]
    assert orphans == []
    # The status requests that followed are traces of their own.
    assert [s.kind for s in trace].count(SpanKind.SERVER) == 1

    # It covers every service: each handled the events it consumes inside the trace.
    assert {_role(s) for s in trace} == EVERY_SERVICE
    processed = Counter(
        (_role(s), _attribute(s, "cloudevents.event_type"))
        for s in trace
        if s.kind is SpanKind.CONSUMER and s.name.startswith("process ")
    )
    for expected in [
        ("accounts", "documents.uploaded.v1"),
        ("inspector", "accounts.quota_reserved.v1"),
        ("catalog", "documents.inspected.v1"),
        ("notifier", "documents.ready.v1"),
        ("journal", "notifications.sent.v1"),
    ]:
        assert processed[expected] >= 1, (expected, processed)

    # Each event was published inside the trace, and its publish span is its consumers' parent.
    publish_spans = {
        _attribute(s, "cloudevents.event_id"): s for s in trace if s.kind is SpanKind.PRODUCER
    }
    assert {e.id for e in events} <= set(publish_spans)
    for span in trace:
        if span.name.startswith("process ") and span.parent is not None:
            parent = publish_spans[_attribute(span, "cloudevents.event_id")]
            assert parent.context is not None
            assert span.parent.span_id == parent.context.span_id

    # The inspection job ran in the trace, under the handler that asked for it.
    [job] = [s for s in trace if s.name == "job inspect_document"]
    [enqueue] = [s for s in trace if s.name == "enqueue inspect_document"]
    assert job.parent is not None
    assert enqueue.context is not None
    assert job.parent.span_id == enqueue.context.span_id
    assert _role(job) == _role(enqueue) == "inspector"
