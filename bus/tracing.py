"""Distributed tracing with OpenTelemetry, its context carried inside each CloudEvent.

The CloudEvents distributed-tracing extension puts the W3C ``traceparent`` (and
``tracestate``) in the event itself, so the context survives everything an event
goes through: the broker, the journal, a catch-up after a gap, a dead-letter
replay. Every service continues the trace of the event it handles, so one upload
is one trace across every service:

- ``publish <type>`` (producer) around each publish; its context goes into the envelope;
- ``process <type>`` (consumer) around each delivery, a child of that publish span;
- ``enqueue <job>`` (producer) and ``job <job>`` (consumer) around arq jobs, whose
  context travels in the job's arguments.

A process exports its spans after :func:`configure_tracing`: ``bus run`` and
``bus worker`` call it with ``BUS_TRACING`` (``off``, ``console`` or ``otlp``). The
OTLP exporter speaks HTTP/protobuf and reads the standard ``OTEL_EXPORTER_OTLP_*``
variables (endpoint, headers); the sampler reads ``OTEL_TRACES_SAMPLER``. Without
an exporter nothing is recorded, but the context an event arrived with is passed
on unchanged to what its handler publishes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from bus.envelope import Envelope

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from contracts import Event

TRACER_NAME = "chorus.bus"
SERVICE_ATTRIBUTE = "chorus.service"
"""Every span of the bus names its service here too: several services may share a
process (tests, a monolith), and with it one OpenTelemetry resource."""

_tracer = trace.get_tracer(TRACER_NAME)


class TracingExporter(StrEnum):
    """Where a process sends its spans (``BUS_TRACING``)."""

    OFF = "off"
    CONSOLE = "console"
    OTLP = "otlp"


@dataclass(frozen=True)
class Tracing:
    """The tracer provider a process installed; :meth:`shutdown` flushes it."""

    provider: TracerProvider

    def shutdown(self) -> None:
        """Export what is buffered and stop."""
        self.provider.shutdown()


def configure_tracing(
    exporter: TracingExporter, *, service: str, instance: str, version: str | None = None
) -> Tracing | None:
    """Install a tracer provider exporting to ``exporter`` for this process; None if off.

    Call once per process, before the service starts (OpenTelemetry keeps the first
    provider installed).
    """
    provider = build_provider(exporter, service=service, instance=instance, version=version)
    if provider is None:
        return None
    trace.set_tracer_provider(provider)
    return Tracing(provider)


def build_provider(
    exporter: TracingExporter, *, service: str, instance: str, version: str | None = None
) -> TracerProvider | None:
    """A tracer provider batching spans to ``exporter``, not installed; None if off.

    The resource names the service, its replica and version (``OTEL_RESOURCE_ATTRIBUTES``
    adds to it).
    """
    if exporter is TracingExporter.OFF:
        return None
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415 - only when tracing
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    attributes = {"service.name": service, "service.instance.id": f"{service}-{instance}"}
    if version:
        attributes["service.version"] = version
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(_exporter(exporter)))
    return provider


def _exporter(kind: TracingExporter) -> SpanExporter:
    if kind is TracingExporter.CONSOLE:
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter  # noqa: PLC0415

        return ConsoleSpanExporter(out=sys.stderr, formatter=_one_line)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )

    return OTLPSpanExporter()


def _one_line(span: ReadableSpan) -> str:
    # One JSON object per line, like the logs beside it.
    return f"{span.to_json(indent=None)}\n"


def recording() -> bool:
    """Whether this process records spans: a tracer provider is installed
    (:func:`configure_tracing`, or a test's); without one every span is a no-op."""
    return not isinstance(
        trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
    )


# -- carrying the context -------------------------------------------------------


def inject() -> dict[str, str]:
    """The current trace context as W3C headers (``traceparent``, ``tracestate``)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str | None] | None) -> Context:
    """The trace context in ``carrier``; an empty one if it holds none (or a malformed one)."""
    if not carrier:
        return Context()
    return propagate.extract({k: v for k, v in carrier.items() if v is not None})


def envelope_context(envelope: Envelope | None) -> Context:
    """The trace context an event carries in its distributed-tracing extension."""
    if envelope is None:
        return Context()
    return extract({"traceparent": envelope.traceparent, "tracestate": envelope.tracestate})


def trace_id(envelope: Envelope) -> str | None:
    """The trace id (32 hex digits) in an event's ``traceparent``, if it carries a valid one."""
    context = trace.get_current_span(envelope_context(envelope)).get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


# -- spans -------------------------------------------------------------------------


def _event_attributes(envelope: Envelope) -> dict[str, str]:
    attributes = {
        "messaging.message.id": envelope.id,
        "cloudevents.event_id": envelope.id,
        "cloudevents.event_type": envelope.type,
        "cloudevents.event_source": envelope.source,
        "cloudevents.event_spec_version": envelope.specversion,
        "chorus.correlation_id": envelope.correlationid,
        "chorus.causation_id": envelope.causationid,
        "cloudevents.event_subject": envelope.subject,
    }
    return {k: v for k, v in attributes.items() if v is not None}


@contextmanager
def publishing(
    service: str | None,
    event: Event,
    topic: str,
    *,
    source: str,
    cause: Envelope | None = None,
    id: str | None = None,
) -> Iterator[Envelope]:
    """A producer span around one publish: yields ``event``'s new envelope, which carries
    the span's context (see :meth:`Envelope.wrap`); send it inside the block. While
    nothing is recorded, no span: the envelope carries the current context on."""
    if not recording():
        yield Envelope.wrap(event, source=source, cause=cause, id=id, trace=inject())
        return
    attributes = {
        "messaging.system": "mqtt",
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "messaging.destination.name": topic,
        "cloudevents.event_type": event.contract.type,
    }
    if service:
        attributes[SERVICE_ATTRIBUTE] = service
    with _tracer.start_as_current_span(
        f"publish {event.contract.type}", kind=SpanKind.PRODUCER, attributes=attributes
    ) as span:
        envelope = Envelope.wrap(event, source=source, cause=cause, id=id, trace=inject())
        if span.is_recording():
            span.set_attributes(_event_attributes(envelope))
        yield envelope


@contextmanager
def processing(
    service: str,
    topic: str,
    envelope: Envelope | None,
    *,
    handler: str | None = None,
    via: str = "broker",
) -> Iterator[Span]:
    """A consumer span around one delivery, continuing the trace the event carries.

    ``via`` says where this copy came from: ``broker``, ``catch-up`` (the journal,
    after a gap in the connection) or ``replay`` (a dead letter sent again). While
    nothing is recorded, no span: the event's context is made current (what the handler
    publishes carries it on) and the span yielded records nothing.
    """
    if not recording():
        token = context.attach(envelope_context(envelope))
        try:
            yield trace.get_current_span()
        finally:
            context.detach(token)
        return
    attributes = {
        SERVICE_ATTRIBUTE: service,
        "chorus.delivered_via": via,
        "messaging.system": "mqtt",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": topic,
        "messaging.consumer.group.name": service,
    }
    if handler:
        attributes["chorus.handler"] = handler
    if envelope is not None:
        attributes.update(_event_attributes(envelope))
    name = f"process {envelope.type if envelope is not None else topic}"
    with _consuming(name, envelope_context(envelope), attributes) as span:
        yield span


@contextmanager
def enqueueing(service: str, job: str, job_id: str) -> Iterator[Span]:
    """A producer span around asking for a job; :func:`inject` inside it gives its context."""
    attributes = {SERVICE_ATTRIBUTE: service, "chorus.job": job, "chorus.job_id": job_id}
    with _tracer.start_as_current_span(
        f"enqueue {job}", kind=SpanKind.PRODUCER, attributes=attributes
    ) as span:
        yield span


@contextmanager
def running_job(
    service: str, job: str, job_id: str, attempt: int, parent: Context
) -> Iterator[Span]:
    """A consumer span around one try of a job."""
    attributes: dict[str, str | int] = {
        SERVICE_ATTRIBUTE: service,
        "chorus.job": job,
        "chorus.job_id": job_id,
        "chorus.job_attempt": attempt,
    }
    with _consuming(f"job {job}", parent, attributes) as span:
        yield span


@contextmanager
def _consuming(name: str, parent: Context, attributes: Mapping[str, str | int]) -> Iterator[Span]:
    # Failures are marked by the caller (:func:`failed`): a dead letter is not an exception.
    with _tracer.start_as_current_span(
        name,
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def failed(span: Span, error: BaseException, *, description: str | None = None) -> None:
    """Mark ``span`` as failed by ``error``."""
    if span.is_recording():
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, description or f"{type(error).__name__}: {error}"))


def current_ids() -> tuple[str, str] | None:
    """The current trace id and span id in hex, for log lines; None outside a span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


__all__ = [
    "SERVICE_ATTRIBUTE",
    "Tracing",
    "TracingExporter",
    "build_provider",
    "configure_tracing",
    "current_ids",
    "envelope_context",
    "extract",
    "inject",
    "trace_id",
]
