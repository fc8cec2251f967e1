"""The services' own numbers, from each live replica's ``/metrics``: every
:data:`SCRAPE_EVERY` seconds the console reads the replicas whose presence says where
(``Presence.ops_url``), and keeps, per service, what happened between two readings
over the last :data:`~bus.tools.console.live.HISTORY` seconds.

:class:`Measurements` is the pure part (readings in, points out, given a clock);
:meth:`Measurements.follow` adds the requests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from bus.discovery import Presence
from bus.tools.console.live import HISTORY, Presences
from bus.tools.console.scrape import (
    DEADLINE,
    Buckets,
    Reading,
    ScrapeError,
    minus,
    plus,
    quantile,
    scrape,
)

log = logging.getLogger("bus.console")

SCRAPE_EVERY = 3.0
"""Seconds between two readings of every replica's ``/metrics``."""

SCRAPE_TIMEOUT = DEADLINE
"""Seconds one replica may take to answer, each read (:func:`scrape` bounds the whole)."""

RECENT = 60.0
"""Seconds the table's figures (rates, quantiles, retries) cover."""


@dataclass(frozen=True, slots=True)
class Point:
    """What a service's replicas did between two readings, ending at ``at`` (monotonic).

    Attributes:
        seconds: How long the readings were apart.
        events: Events that reached an outcome, all measured replicas together.
        retries: Handler attempts retried.
        buckets: Handler times observed.
        jobs_in_queue: The service's queue as last read (None: it has no jobs).
    """

    at: float
    seconds: float
    events: float
    retries: float
    buckets: Buckets
    jobs_in_queue: float | None

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def quantile(self, q: float) -> float | None:
        return quantile(q, self.buckets)


@dataclass(frozen=True, slots=True)
class Summary:
    """A service's numbers over the last :data:`RECENT` seconds, for the table."""

    rate: float
    p50: float | None
    p99: float | None
    retries: float
    jobs_in_queue: float | None


@dataclass
class ServiceNumbers:
    """One service: its points, and how many of its live replicas were measured."""

    points: deque[Point] = field(default_factory=deque)
    measured: int = 0
    unmeasured: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self, now: float | None = None) -> Summary | None:
        """Over the last :data:`RECENT` seconds; None before two readings of a replica."""
        now = now if now is not None else time.monotonic()
        recent = [p for p in self.points if p.at > now - RECENT]
        if not recent:
            return None
        seconds = sum(p.seconds for p in recent)
        buckets = _sum_buckets(p.buckets for p in recent)
        return Summary(
            rate=sum(p.events for p in recent) / seconds if seconds > 0 else 0.0,
            p50=quantile(0.5, buckets),
            p99=quantile(0.99, buckets),
            retries=sum(p.retries for p in recent),
            jobs_in_queue=recent[-1].jobs_in_queue,
        )


@dataclass(frozen=True, slots=True)
class _Last:
    reading: Reading
    at: float


@dataclass
class Measurements:
    """Per service, what its replicas' ``/metrics`` said, over the last minutes.

    A replica is known by its client id and pid (a restart counts again from zero). Its
    first reading is a starting line, unless its process started after the console began
    to watch: then everything it counted happened since, and counts.
    """

    services: dict[str, ServiceNumbers] = field(default_factory=dict)
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    _last: dict[tuple[str, int], _Last] = field(default_factory=dict)

    def take(
        self,
        readings: Iterable[tuple[Presence, Reading | str]],
        unmeasured: Iterable[Presence] = (),
        now: float | None = None,
    ) -> None:
        """Fold one round of readings in: per replica its :class:`Reading`, or why there
        is none (it did not answer); ``unmeasured``: live replicas that serve no metrics."""
        now = now if now is not None else time.monotonic()
        rounds: dict[str, list[tuple[Reading, float]]] = {}
        queues: dict[str, float | None] = {}
        seen: set[tuple[str, int]] = set()
        for service in self.services.values():
            service.measured = service.unmeasured = 0
            service.problems = []
        for presence in unmeasured:
            self._service(presence.service).unmeasured += 1
        for presence, reading in readings:
            numbers = self._service(presence.service)
            if isinstance(reading, str):
                numbers.unmeasured += 1
                numbers.problems.append(f"{presence.instance}: {reading}")
                continue
            numbers.measured += 1
            key = (presence.client_id, presence.pid)
            seen.add(key)
            if reading.jobs_in_queue is not None:  # one queue per service, as any replica sees it
                queues[presence.service] = reading.jobs_in_queue
            last = self._last.get(key)
            self._last[key] = _Last(reading, now)
            if last is not None:
                rounds.setdefault(presence.service, []).append(
                    (_between(last.reading, reading), now - last.at)
                )
            elif presence.started_at >= self.since:
                rounds.setdefault(presence.service, []).append((reading, 0.0))
        for key in set(self._last) - seen:
            del self._last[key]
        for name, deltas in rounds.items():
            self._service(name).points.append(
                Point(
                    at=now,
                    seconds=max(seconds for _, seconds in deltas) or SCRAPE_EVERY,
                    events=sum(d.events for d, _ in deltas),
                    retries=sum(d.retries for d, _ in deltas),
                    buckets=_sum_buckets(d.buckets for d, _ in deltas),
                    jobs_in_queue=queues.get(name),
                )
            )
        for numbers in self.services.values():
            while numbers.points and numbers.points[0].at <= now - HISTORY:
                numbers.points.popleft()

    def _service(self, name: str) -> ServiceNumbers:
        return self.services.setdefault(name, ServiceNumbers())

    async def follow(self, presences: Presences) -> None:
        """Read every live replica's ``/metrics`` each :data:`SCRAPE_EVERY` seconds
        until cancelled."""
        async with httpx.AsyncClient(timeout=SCRAPE_TIMEOUT, follow_redirects=False) as client:
            while True:
                try:
                    await self.scrape_once(client, [s.presence for s in presences.sightings()])
                except Exception:  # a bug here must not stop the numbers for good
                    log.exception("console: reading the replicas' metrics failed")
                await asyncio.sleep(SCRAPE_EVERY)

    async def scrape_once(self, client: httpx.AsyncClient, live: list[Presence]) -> None:
        """One round: every replica in ``live`` that says where its metrics are."""
        served = [p for p in live if p.ops_url]

        async def read(presence: Presence) -> tuple[Presence, Reading | str]:
            assert presence.ops_url is not None
            try:
                return presence, await scrape(client, presence.ops_url, presence.service)
            except ScrapeError as exc:
                log.debug("console: %s: %s", presence.ops_url, exc)
                return presence, str(exc)

        readings = await asyncio.gather(*(read(p) for p in served))
        self.take(readings, [p for p in live if not p.ops_url])


def _between(before: Reading, now: Reading) -> Reading:
    """What was counted between two readings of one process."""
    return Reading(
        events=max(now.events - before.events, 0.0),
        retries=max(now.retries - before.retries, 0.0),
        buckets=minus(now.buckets, before.buckets),
        jobs_in_queue=now.jobs_in_queue,
    )


def _sum_buckets(all_buckets: Iterable[Buckets]) -> Buckets:
    total: Buckets = ()
    for buckets in all_buckets:
        total = plus(total, buckets)
    return total
