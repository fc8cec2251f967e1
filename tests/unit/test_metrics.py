"""The pipeline counts outcomes, retries and handler time per service and event type."""

import uuid

from prometheus_client import REGISTRY

from bus import RetryPolicy, Service
from bus.testing import in_memory
from contracts import DocumentUploaded
from tests.helpers import uploaded

TYPE = "documents.uploaded.v1"


def sample(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


async def test_outcomes_retries_and_latency_are_counted() -> None:
    name = f"metered-{uuid.uuid4().hex[:6]}"
    service = Service(name, retry=RetryPolicy(attempts=2, initial_delay=0.001, max_delay=0.002))
    failures = {"left": 1}

    @service.on(DocumentUploaded)
    async def flaky(event: DocumentUploaded) -> None:
        if event.filename == "file-2.txt" and failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("try again")
        if event.filename == "file-3.txt":
            raise ValueError("never valid")

    async with in_memory(service) as bus:
        for n in (1, 2, 3):
            await bus.publish(uploaded(n))
        await bus.publish_raw(b"not json", "documents/uploaded/v1")

    assert sample("chorus_events_total", service=name, type=TYPE, outcome="handled") == 2
    assert sample("chorus_events_total", service=name, type=TYPE, outcome="dead-lettered") == 1
    unreadable = sample(
        "chorus_events_total", service=name, type="unreadable", outcome="dead-lettered"
    )
    assert unreadable == 1
    assert sample("chorus_handler_retries_total", service=name, type=TYPE) == 1
    assert sample("chorus_handler_seconds_count", service=name, type=TYPE) == 3
