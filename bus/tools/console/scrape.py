"""Reading one replica's own Prometheus ``/metrics`` (:mod:`bus.metrics`, served by
:mod:`bus.ops`): the counters the Numbers page turns into rates and quantiles.

Pure parts (:func:`parse`, :func:`quantile`) apart from the one request (:func:`scrape`).
"""

from __future__ import annotations

import ipaddress
import math
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

# The sample names, as bus.metrics exposes them (a counter's samples end in _total, a
# histogram's buckets in _bucket with the bound in the ``le`` label).
EVENTS = "chorus_events_total"
RETRIES = "chorus_handler_retries_total"
HANDLER_BUCKETS = "chorus_handler_seconds_bucket"
JOBS_IN_QUEUE = "chorus_jobs_in_queue"

Buckets = tuple[tuple[float, float], ...]
"""A histogram as ``(upper bound, cumulative count)`` pairs, by bound, ``+Inf`` last."""


@dataclass(frozen=True, slots=True)
class Reading:
    """What one replica counted for one service since its process started.

    Attributes:
        events: Events that reached a final outcome (handled, duplicate, dead-lettered).
        retries: Handler attempts that failed and were retried.
        buckets: Handler time (arrival to outcome), every event type together.
        jobs_in_queue: Jobs waiting or running in the service's queue (None: it has no jobs).
    """

    events: float = 0.0
    retries: float = 0.0
    buckets: Buckets = ()
    jobs_in_queue: float | None = None


def parse(text: str, service: str) -> Reading:
    """The samples labelled ``service`` in a Prometheus text exposition.

    Raises:
        ValueError: if the text is not in the Prometheus text format.
    """
    events = retries = 0.0
    queue: float | None = None
    bounds: defaultdict[float, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("service") != service:
                continue
            if sample.name == EVENTS:
                events += sample.value
            elif sample.name == RETRIES:
                retries += sample.value
            elif sample.name == HANDLER_BUCKETS:
                bounds[float(sample.labels["le"])] += sample.value  # summed over event types
            elif sample.name == JOBS_IN_QUEUE:
                queue = sample.value
    return Reading(events, retries, tuple(sorted(bounds.items())), queue)


def quantile(q: float, buckets: Buckets) -> float | None:
    """The ``q`` quantile (0 to 1) of a histogram, as Prometheus' ``histogram_quantile``
    estimates it: linear within the bucket the rank falls in, the lowest bucket starting
    at 0; a rank in the ``+Inf`` bucket gives the highest finite bound. None: nothing
    was observed."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank and count > below:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def minus(now: Buckets, before: Buckets) -> Buckets:
    """What was observed between two readings of one histogram (``now`` alone if the
    bounds differ or a count went down: the process restarted in between)."""
    if [b for b, _ in now] != [b for b, _ in before] or any(
        n < b for (_, n), (_, b) in zip(now, before, strict=True)
    ):
        return now
    return tuple((bound, n - b) for (bound, n), (_, b) in zip(now, before, strict=True))


def plus(one: Buckets, other: Buckets) -> Buckets:
    """Two histograms added (either may be empty). Counts under different bounds do not
    add up (replicas of two versions): then ``one`` stays as it is."""
    if not one or not other:
        return one or other
    if [b for b, _ in one] != [b for b, _ in other]:
        return one
    return tuple((bound, a + b) for (bound, a), (_, b) in zip(one, other, strict=True))


def is_loopback(url: str) -> bool:
    """Whether ``url`` is plain HTTP to this machine: the only place the console scrapes,
    whatever a presence message says (it must not be a way to make it fetch elsewhere)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


async def scrape(client: httpx.AsyncClient, ops_url: str, service: str) -> Reading:
    """Read ``ops_url``'s ``/metrics`` for ``service``.

    Raises:
        ValueError: ``ops_url`` is not on loopback, or the answer is no exposition.
        httpx.HTTPError: the replica did not answer, or not with 200.
    """
    if not is_loopback(ops_url):
        raise ValueError(f"not a loopback address: {ops_url}")
    response = await client.get(f"{ops_url.rstrip('/')}/metrics")
    response.raise_for_status()
    return parse(response.text, service)
