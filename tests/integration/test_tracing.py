"""Copies of an event that do not come from the broker stay in the event's trace, and say
where they came from."""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry import trace

from bus import BusSettings, Publisher, RetryPolicy, Service
from bus.deadletters import StoredDeadLetter
from bus.deadletters.store import request_replays
from contracts import DocumentUploaded
from tests.helpers import eventually, uploaded
from tests.spans import Spans


def _deliveries(spans: Spans, event_id: str) -> list[tuple[str, str, int]]:
    """(delivered via, outcome, trace id) of each span that processed ``event_id``."""
    return [
        (
            str(attributes["chorus.delivered_via"]),
            str(attributes["chorus.outcome"]),
            span.context.trace_id,
        )
        for span in spans.all()
        if span.context is not None
        and (attributes := span.attributes or {}).get("cloudevents.event_id") == event_id
        and span.name.startswith("process ")
    ]


async def test_a_catch_up_copy_is_a_duplicate_in_the_same_trace(
    settings: BusSettings, services: list[Service], spans: Spans, unique: Callable[[str], str]
) -> None:
    service = Service(unique("indexer"), settings=settings)

    @service.on(DocumentUploaded)
    async def index(event: DocumentUploaded) -> None:
        pass

    services.append(service)
    await service.start()
    with trace.get_tracer("test").start_as_current_span("test") as root:
        async with Publisher(settings=settings) as publisher:  # journal first
            envelope = await publisher.publish(uploaded())
    trace_id = root.get_span_context().trace_id
    await eventually(lambda: bool(_deliveries(spans, envelope.id)), what="the live delivery")
    # Back after a stop, the replica reads the journal from before it went away.
    await service.stop()
    await service.start()
    await eventually(
        lambda: len(_deliveries(spans, envelope.id)) == 2, within=10, what="the catch-up copy"
    )
    assert _deliveries(spans, envelope.id) == [
        ("broker", "handled", trace_id),
        ("catch-up", "duplicate", trace_id),
    ]


async def test_a_replayed_dead_letter_is_handled_in_the_event_s_trace(
    settings: BusSettings, services: list[Service], spans: Spans, unique: Callable[[str], str]
) -> None:
    service = Service(unique("indexer"), settings=settings, retry=RetryPolicy(attempts=1))
    broken = True

    @service.on(DocumentUploaded)
    async def index(event: DocumentUploaded) -> None:
        if broken:
            raise ConnectionError("index down")

    services.append(service)
    await service.start()
    with trace.get_tracer("test").start_as_current_span("test") as root:
        async with Publisher(settings=settings) as publisher:
            envelope = await publisher.publish(uploaded())
    trace_id = root.get_span_context().trace_id
    await eventually(lambda: bool(_deliveries(spans, envelope.id)), what="the failed delivery")

    broken = False
    # The service's own connection serves the query (it initialised the dead letters).
    letters = await StoredDeadLetter.find(StoredDeadLetter.event_id == envelope.id).to_list()
    await request_replays(letters, settings)
    await eventually(
        lambda: len(_deliveries(spans, envelope.id)) == 2, within=10, what="the replay"
    )
    assert _deliveries(spans, envelope.id) == [
        ("broker", "dead-lettered", trace_id),
        ("replay", "handled", trace_id),
    ]
