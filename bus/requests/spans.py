"""The spans of a request and of its answer, one trace across both services.

The requester's context travels as the query's ``traceparent`` and ``tracestate`` MQTT 5
user properties (W3C Trace Context, as the attributes of a binary-mode CloudEvent), so a
request made inside a handler continues the event's trace, and the answer continues the
request's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from bus import tracing

_tracer = trace.get_tracer(tracing.TRACER_NAME)

UserProperties = tuple[tuple[str, str], ...]


@contextmanager
def requesting(service: str | None, query_type: str, topic: str) -> Iterator[UserProperties]:
    """A client span around one request; yields the user properties that carry it."""
    attributes = {"messaging.system": "mqtt", "messaging.destination.name": topic,
                  "chorus.query": query_type}  # fmt: skip
    if service is not None:
        attributes[tracing.SERVICE_ATTRIBUTE] = service
    with _tracer.start_as_current_span(
        f"request {query_type}", kind=SpanKind.CLIENT, attributes=attributes
    ):
        yield tuple(tracing.inject().items())


@contextmanager
def answering(
    service: str, query_type: str, properties: Sequence[tuple[str, str]]
) -> Iterator[Span]:
    """A server span around one answer, under the requester's span if the query carried it."""
    carried = {k: v for k, v in properties if k in {"traceparent", "tracestate"}}
    attributes = {"messaging.system": "mqtt", "chorus.query": query_type,
                  tracing.SERVICE_ATTRIBUTE: service}  # fmt: skip
    with _tracer.start_as_current_span(
        f"answer {query_type}", context=tracing.extract(carried), kind=SpanKind.SERVER,
        attributes=attributes,
    ) as span:  # fmt: skip
        yield span
