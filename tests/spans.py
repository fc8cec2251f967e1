"""Recording the spans of the test process, only while a test asks for them.

OpenTelemetry keeps the first tracer provider a process installs, so the tests
install one for the whole session. Its sampler drops every span unless a test
holds the ``spans`` fixture: the other tests pay nothing, and keep nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

from bus.tracing import SERVICE_ATTRIBUTE


class _Switch(Sampler):
    """Samples every span while on, none while off."""

    def __init__(self) -> None:
        self.on = False

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        decision = Decision.RECORD_AND_SAMPLE if self.on else Decision.DROP
        return SamplingResult(decision, attributes if self.on else None)

    def get_description(self) -> str:
        return "tests.spans switch"


class Spans:
    """The finished spans of this process since the fixture started recording."""

    def __init__(self) -> None:
        self.switch = _Switch()
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(sampler=self.switch)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def start(self) -> None:
        self.exporter.clear()
        self.switch.on = True

    def stop(self) -> None:
        self.switch.on = False
        self.exporter.clear()

    def all(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def of_trace(self, trace_id: int) -> list[ReadableSpan]:
        return [s for s in self.all() if s.context is not None and s.context.trace_id == trace_id]

    @staticmethod
    def service(span: ReadableSpan) -> str | None:
        value = (span.attributes or {}).get(SERVICE_ATTRIBUTE)
        return str(value) if value is not None else None


_installed: Spans | None = None


def install() -> Spans:
    """The session's recorder, installed as the global tracer provider on first use."""
    global _installed  # noqa: PLW0603 - one provider per process, by OpenTelemetry's rule
    if _installed is None:
        _installed = Spans()
        trace.set_tracer_provider(_installed.provider)
    return _installed
