"""Reading one replica's own Prometheus ``/metrics`` (:mod:`bus.metrics`, served by
:mod:`bus.ops`): the counters the Numbers page turns into rates and quantiles.

Pure parts (:func:`parse`, :func:`quantile`) apart from the one request (:func:`scrape`).
"""

from __future__ import annotations

import asyncio
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

MAX_BYTES = 4 * 1024 * 1024
"""Bytes a replica's ``/metrics`` may have (a replica exposes a few kilobytes): past
them the console stops reading, and reports "too large"."""

INLINE = 256 * 1024
"""Characters parsed on the event loop (a few milliseconds); a longer answer is parsed
in a worker thread."""

DEADLINE = 2.0
"""Seconds one replica's whole ``/metrics`` may take, from connecting to the last byte."""

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


class ScrapeError(Exception):
    """Why a replica gave no reading, in words fit for the Numbers page: never text from
    the presence or the answer (both are the replica's to choose)."""


def metrics_url(ops_url: str) -> str:
    """Where ``ops_url``'s metrics are: its scheme, host and port, then ``/metrics``; its
    path, query, fragment and user info are ignored.

    Raises:
        ScrapeError: ``ops_url`` is not plain HTTP on loopback, or has a bad port.
    """
    if not is_loopback(ops_url):
        raise ScrapeError("not a loopback address")
    parts = urlsplit(ops_url)
    try:
        port = parts.port
    except ValueError:
        raise ScrapeError("not a loopback address") from None
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"http://{host}:{port}/metrics" if port is not None else f"http://{host}/metrics"


async def scrape(
    client: httpx.AsyncClient,
    ops_url: str,
    service: str,
    *,
    limit: int = MAX_BYTES,
    deadline: float = DEADLINE,
) -> Reading:
    """Read ``ops_url``'s ``/metrics`` for ``service``: at most ``limit`` bytes (unencoded:
    a compressed answer is no exposition), all within ``deadline`` seconds.

    Raises:
        ScrapeError: ``ops_url`` is not on loopback; the replica did not answer in time,
            not with 200, with too much, or with no exposition.
    """
    url = metrics_url(ops_url)
    body = bytearray()
    try:
        async with asyncio.timeout(deadline):
            request = client.build_request("GET", url, headers={"accept-encoding": "identity"})
            response = await client.send(request, stream=True)
            try:
                if response.status_code != httpx.codes.OK:
                    raise ScrapeError(f"HTTP {response.status_code}")
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > limit:
                    raise ScrapeError("too large")
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > limit:
                        raise ScrapeError("too large")
            finally:
                await response.aclose()
    except TimeoutError:
        raise ScrapeError("timed out") from None
    except httpx.HTTPError:
        raise ScrapeError("unreachable") from None
    try:
        text = body.decode()
        if len(text) <= INLINE:
            return parse(text, service)
        # Up to MAX_BYTES takes about a second to parse: not on the event loop.
        return await asyncio.to_thread(parse, text, service)
    except (ValueError, KeyError, IndexError, TypeError):  # KeyError: a bucket without le
        raise ScrapeError("unreadable metrics") from None
