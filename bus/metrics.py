"""Prometheus metrics of a service process: what its pipeline and its jobs did.

``bus run SERVICE --ops-port N`` (or ``BUS_OPS_PORT``) serves them on
``http://127.0.0.1:N/metrics`` (see :mod:`bus.ops`); without a port nothing is
served, but the counters still count (tests read them from the default registry).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "chorus_events_total",
    "Events that reached a final outcome, by service, event type and outcome "
    "(handled, duplicate, dead-lettered).",
    ["service", "type", "outcome"],
)
RETRIES = Counter(
    "chorus_handler_retries_total",
    "Handler attempts that failed and were retried, by service and event type.",
    ["service", "type"],
)
HANDLER_SECONDS = Histogram(
    "chorus_handler_seconds",
    "Time from a delivery's arrival in the pipeline to its final outcome.",
    ["service", "type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
JOBS = Counter(
    "chorus_jobs_total",
    "Job tries by service, job and outcome (succeeded, retried, failed, skipped).",
    ["service", "job", "outcome"],
)
JOBS_ENQUEUED = Counter(
    "chorus_jobs_enqueued_total",
    "Requests for a job from this process, by outcome: queued, or duplicate (that job id "
    "was already queued, running or done).",
    ["service", "job", "outcome"],
)
JOBS_RUNNING = Gauge(
    "chorus_jobs_running",
    "Job tries running now in this process.",
    ["service", "job"],
)
JOBS_IN_QUEUE = Gauge(
    "chorus_jobs_in_queue",
    "Jobs in the service's arq queue in Redis, waiting or running (arq keeps a job there "
    "until it finishes); read from Redis at each scrape.",
    ["service"],
)
