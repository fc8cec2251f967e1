"""Microseconds per step of one event's path through a replica (issue 12, item 2).

Each step is timed on its own over ``count`` events, on the real Redis, then the whole
pipeline (``Pipeline.deliver`` with the real dedup claim and record, a handler that
does nothing) for comparison: what the steps add up to, and what one delivery costs.
The broker's share (the PUBLISH in, the PUBACK out) is what the consumer step measures
beyond this.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from bus import BusSettings, Envelope, RetryPolicy, tracing
from bus.context import handling
from bus.deadletters import MemoryDeadLetters
from bus.dedup import Deduplicator
from bus.handler import Handler
from bus.metrics import EVENTS, HANDLER_SECONDS
from bus.runtime import Delivery, Pipeline
from contracts import DocumentUploaded
from tests.helpers import uploaded

TOPIC = DocumentUploaded.contract.topic


async def _noop(event: DocumentUploaded) -> None:
    return None


def _timed(count: int, step: Callable[[int], object]) -> float:
    start = time.perf_counter()
    for n in range(count):
        step(n)
    return (time.perf_counter() - start) / count * 1e6


async def _timed_async(count: int, step: Callable[[int], Awaitable[object]]) -> float:
    start = time.perf_counter()
    for n in range(count):
        await step(n)
    return (time.perf_counter() - start) / count * 1e6


async def per_event_path(settings: BusSettings, count: int) -> dict[str, Any]:
    """µs per step and per whole delivery, sequentially, over ``count`` events."""
    handler = Handler.build(_noop, DocumentUploaded)
    payloads = [Envelope.wrap(uploaded(n), source="/bench/1").to_bytes() for n in range(count)]
    redis = Redis.from_url(settings.redis_url)
    scope = f"bench-profile-{uuid.uuid4().hex[:8]}"
    dedup = Deduplicator(redis, scope, ttl=600)
    ids = [uuid.uuid4().hex for _ in range(count)]
    envelope = Envelope.from_bytes(payloads[0])
    event = handler.decode(envelope)
    try:
        steps: dict[str, float] = {
            "read_envelope_us": _timed(count, lambda n: Envelope.from_bytes(payloads[n])),
            "validate_contract_us": _timed(count, lambda n: handler.decode(envelope)),
            "claim_us": await _timed_async(count, lambda n: dedup.claim(ids[n], "bench")),
            "record_us": await _timed_async(count, lambda n: dedup.complete(ids[n])),
        }

        async def call(n: int) -> None:
            with handling(envelope):
                await handler(event, envelope)

        steps["handler_call_us"] = await _timed_async(count, call)

        def span(n: int) -> None:
            with tracing.processing("bench", TOPIC, envelope, handler="h", via="broker"):
                pass

        steps["span_tracing_off_us"] = _timed(count, span)

        def metrics(n: int) -> None:
            EVENTS.labels("bench", envelope.type, "handled").inc()
            HANDLER_SECONDS.labels("bench", envelope.type).observe(0.001)

        steps["metrics_us"] = _timed(count, metrics)
        pipeline = Pipeline(
            service="bench", owner="bench", retry=RetryPolicy,
            dead_letters=MemoryDeadLetters(),
            dedup=Deduplicator(redis, f"{scope}-whole", ttl=600),
        )  # fmt: skip
        whole = await _timed_async(
            count, lambda n: pipeline.deliver(Delivery(handler, TOPIC, payloads[n]))
        )
        return {
            "events": count,
            **{key: round(value, 1) for key, value in steps.items()},
            "steps_sum_us": round(sum(steps.values()), 1),
            "deliver_us": round(whole, 1),
        }
    finally:
        keys = [k async for k in redis.scan_iter(f"*{scope}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
