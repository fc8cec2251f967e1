"""What the console follows while it runs: who is running (the presences), and the
traffic on the bus (events per producer and type, dead-letter notices per service).

Each follower keeps one subscription in a task of its own, reconnecting after a lost
connection, and folds what arrives into plain state that pages read and render.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from bus._internal.broker import wire_message
from bus._internal.mqtt import MQTT_ERRORS, QOS1, connected_client
from bus.constants import DEAD_LETTER_TOPIC, DOMAIN_EVENTS_FILTER, is_system_topic
from bus.discovery import Presence, Sighting, presence_feed
from bus.envelope import Envelope, EnvelopeError
from bus.settings import BusSettings

log = logging.getLogger("bus.console")

GONE_KEPT = 600.0
"""Seconds a replica whose presence was deleted stays listed, marked dead."""

RATE_WINDOW = 10.0
"""Seconds over which events per second are averaged."""

KEPT_EVENTS = 500
"""The newest events kept for the live tail."""

RETRY = 2.0
"""Seconds between attempts to reach the broker again."""


@dataclass(frozen=True, slots=True)
class Gone:
    """A replica whose presence was deleted: stopped cleanly, or dead (its MQTT will)."""

    presence: Presence
    at: datetime


@dataclass
class Presences:
    """The replicas running now, and those gone in the last :data:`GONE_KEPT` seconds."""

    current: dict[str, Presence] = field(default_factory=dict)
    gone: dict[str, Gone] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    connected: bool = False

    def sightings(self, now: datetime | None = None) -> list[Sighting]:
        now = now or datetime.now(UTC)
        ordered = sorted(self.current.values(), key=lambda p: (p.service, p.instance))
        return [Sighting(p, p.age(now), p.is_stale(now)) for p in ordered]

    def departed(self, now: datetime | None = None) -> list[Gone]:
        now = now or datetime.now(UTC)
        for topic, gone in list(self.gone.items()):
            if (now - gone.at).total_seconds() > GONE_KEPT:
                del self.gone[topic]
        return sorted(self.gone.values(), key=lambda g: (g.presence.service, g.presence.instance))

    def update(self, current: dict[str, Presence], unreadable: dict[str, str]) -> None:
        """Take the roster as it is now; what left it is remembered as gone."""
        now = datetime.now(UTC)
        for topic, presence in self.current.items():
            if topic not in current:
                self.gone[topic] = Gone(presence, now)
        for topic in current:
            self.gone.pop(topic, None)
        self.current = dict(current)
        self.unreadable = dict(unreadable)

    async def follow(self, settings: BusSettings) -> None:
        """Follow every presence of ``settings.namespace`` until cancelled."""

        async def once() -> None:
            async with presence_feed(settings) as feed:
                self.connected = True
                while True:
                    await feed.next(within=1.0)
                    self.update(feed.roster.presences, feed.roster.unreadable)

        await _forever(once, self, "presences")


HISTORY = 300
"""Seconds of per-second counts kept for the numbers' charts."""


@dataclass
class Series:
    """Counts per key and per second over the last :data:`HISTORY` seconds."""

    _seconds: deque[tuple[int, Counter[str]]] = field(default_factory=deque)

    def add(self, key: str, at: float | None = None) -> None:
        second = int(at if at is not None else time.monotonic())
        if not self._seconds or self._seconds[-1][0] != second:
            self._seconds.append((second, Counter()))
            while self._seconds[0][0] <= second - HISTORY:
                self._seconds.popleft()
        self._seconds[-1][1][key] += 1

    def keys(self) -> list[str]:
        return sorted({key for _, counts in self._seconds for key in counts})

    def values(self, key: str, now: float | None = None, span: int = HISTORY) -> list[int]:
        """One count per second, oldest first, the last for the second now running."""
        last = int(now if now is not None else time.monotonic())
        by_second = {second: counts[key] for second, counts in self._seconds}
        return [by_second.get(second, 0) for second in range(last - span + 1, last + 1)]


@dataclass
class Traffic:
    """Counts of what passed on the bus since the console started.

    Attributes:
        produced: Events per (producing service, event type), the service read from the
            CloudEvents ``source`` (``/<service>/<instance>``).
        by_type: Events per type, whoever produced them.
        dead_letters: Dead-letter notices per service.
        recent: The newest :data:`KEPT_EVENTS` events, oldest first.
        produced_per_second: Events each service published, per second.
        dead_per_second: Dead-letter notices of each service, per second.
    """

    produced: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    recent: deque[Envelope] = field(default_factory=lambda: deque(maxlen=KEPT_EVENTS))
    produced_per_second: Series = field(default_factory=Series)
    dead_per_second: Series = field(default_factory=Series)
    connected: bool = False
    _recent: deque[tuple[float, str, str]] = field(default_factory=deque)

    def count(self, envelope: Envelope, at: float | None = None) -> None:
        service = envelope.source.strip("/").split("/", 1)[0]
        self.produced[service, envelope.type] += 1
        self.by_type[envelope.type] += 1
        self.recent.append(envelope)
        self.produced_per_second.add(service, at)
        self._recent.append((at if at is not None else time.monotonic(), service, envelope.type))

    def rates(self, now: float | None = None) -> tuple[Counter[tuple[str, str]], Counter[str]]:
        """Events per second over the last :data:`RATE_WINDOW` seconds: per (service,
        type) produced, and per type."""
        now = now if now is not None else time.monotonic()
        while self._recent and self._recent[0][0] < now - RATE_WINDOW:
            self._recent.popleft()
        produced: Counter[tuple[str, str]] = Counter()
        by_type: Counter[str] = Counter()
        for _, service, event_type in self._recent:
            produced[service, event_type] += 1
            by_type[event_type] += 1
        scale = 1 / RATE_WINDOW
        return (
            Counter({k: v * scale for k, v in produced.items()}),
            Counter({k: v * scale for k, v in by_type.items()}),
        )

    async def follow(self, settings: BusSettings) -> None:
        """Count every domain event and dead-letter notice of the namespace until cancelled."""
        notices = settings.wire_topic(DEAD_LETTER_TOPIC.format(service="+"))
        prefix = notices.removesuffix("+")

        async def once() -> None:
            async with connected_client(settings) as client:
                events = client.subscribe(settings.wire_topic(DOMAIN_EVENTS_FILTER), qos=QOS1)
                letters = client.subscribe(notices, qos=QOS1)
                async with events as event_subscription, letters as letter_subscription:
                    self.connected = True
                    async with asyncio.TaskGroup() as tasks:
                        tasks.create_task(self._events(settings, event_subscription))
                        tasks.create_task(self._notices(prefix, letter_subscription))

        await _forever(once, self, "traffic")

    async def _events(self, settings: BusSettings, subscription: object) -> None:
        async for message in subscription:  # type: ignore[attr-defined]
            if is_system_topic(settings.local_topic(message.topic)):
                continue
            with contextlib.suppress(EnvelopeError):
                self.count(Envelope.from_message(wire_message(message)))

    async def _notices(self, prefix: str, subscription: object) -> None:
        async for message in subscription:  # type: ignore[attr-defined]
            service = message.topic.removeprefix(prefix)
            self.dead_letters[service] += 1
            self.dead_per_second.add(service)


class _Follower(Protocol):
    connected: bool


async def _forever(once: Callable[[], Awaitable[None]], state: _Follower, what: str) -> None:
    while True:
        try:
            await once()
        except MQTT_ERRORS as exc:
            log.warning("console: following %s: %s; trying again", what, exc)
        except TimeoutError:
            log.warning("console: following %s: the broker did not answer; trying again", what)
        state.connected = False
        await asyncio.sleep(RETRY)
