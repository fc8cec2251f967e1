"""A bus consumer that only counts, for the benchmarks (run in-process or by ``bus run``)."""

from __future__ import annotations

import os
import time

from bus import BusSettings, Envelope, Service
from contracts import DocumentUploaded

COUNTER = "bench:handled:{run}"
"""Redis counter of events handled in one benchmark run, across processes."""


def create_counter(
    name: str, settings: BusSettings | None = None, latencies: list[float] | None = None
) -> Service:
    """Counts each DocumentUploaded in Redis; records publish-to-handler latency if asked."""
    service = Service(name, settings=settings)
    run = os.environ.get("CHORUS_BENCH_RUN", name)

    @service.on(DocumentUploaded)
    async def count(event: DocumentUploaded, envelope: Envelope) -> None:
        if latencies is not None:
            latencies.append(time.time() - envelope.time.timestamp())
        stores = service.replica.stores
        assert stores is not None
        await stores.redis.incr(COUNTER.format(run=run))

    return service


service = create_counter(os.environ.get("CHORUS_BENCH_SERVICE", "bench-counter"))
