"""Reading who runs, from the broker alone: the retained presence messages.

:class:`Roster` is the pure part (messages in, instances out, given a clock);
:func:`presence_feed` and :func:`read_presence` add the subscription.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from bus._internal.mqtt import QOS1, Subscription, connected_client
from bus.discovery.models import Presence
from bus.discovery.topics import PRESENCE_FILTER
from bus.settings import BusSettings

QUIET = 0.3
"""Seconds without a message after which the retained presences count as all received."""

log = logging.getLogger("bus.discovery")

LIMIT = 1.0
"""Seconds :meth:`PresenceFeed.settle` waits at most, however busy the topic."""


@dataclass(frozen=True, slots=True)
class Sighting:
    """One instance as a reader sees it at ``now``: its presence, the heartbeat's age
    in seconds, and whether it is stale (no heartbeat for three intervals)."""

    presence: Presence
    age: float
    stale: bool

    def to_json(self) -> dict[str, object]:
        """The presence's fields plus ``heartbeat_age`` and ``stale``."""
        return {
            **self.presence.model_dump(mode="json"),
            "heartbeat_age": round(self.age, 3),
            "stale": self.stale,
        }


@dataclass
class Roster:
    """The instances that presence messages announce, keyed by topic. No I/O.

    Attributes:
        presences: The current presence per (namespace-free) topic.
        unreadable: Topics whose message is no presence, with the reason.
    """

    presences: dict[str, Presence] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)

    def apply(self, topic: str, payload: bytes) -> bool:
        """Take one message (``topic`` without the namespace); True if anything changed.

        An empty payload deletes the instance: a clean stop, or its will. A presence
        whose service or instance is not the topic's (anyone who may publish on one
        presence topic must not announce another replica) is unreadable, not listed.
        """
        if not payload:
            gone = self.presences.pop(topic, None) is not None
            return self.unreadable.pop(topic, None) is not None or gone
        try:
            presence = Presence.from_bytes(payload)
        except ValidationError as exc:
            self.presences.pop(topic, None)
            self.unreadable[topic] = f"not a presence message: {exc.error_count()} error(s)"
            return True
        if presence.topic != topic:
            log.warning("presence of %s/%s on %s ignored: not its topic",
                        presence.service, presence.instance, topic)  # fmt: skip
            self.presences.pop(topic, None)
            self.unreadable[topic] = (
                f"presence of {presence.service}/{presence.instance} on another's topic"
            )
            return True
        self.unreadable.pop(topic, None)
        changed = self.presences.get(topic) != presence
        self.presences[topic] = presence
        return changed

    def sightings(self, now: datetime | None = None) -> list[Sighting]:
        """Every instance, by service and instance name, aged against ``now``."""
        now = now or datetime.now(UTC)
        ordered = sorted(self.presences.values(), key=lambda p: (p.service, p.instance))
        return [Sighting(p, p.age(now), p.is_stale(now)) for p in ordered]


@dataclass
class PresenceFeed:
    """A live subscription to every presence in one namespace, folded into a roster."""

    settings: BusSettings
    subscription: Subscription
    roster: Roster = field(default_factory=Roster)

    async def settle(self, *, quiet: float = QUIET, limit: float = LIMIT) -> Roster:
        """Take messages until none came for ``quiet`` seconds (the retained ones
        arrive together right after subscribing), or ``limit`` seconds passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while (left := deadline - loop.time()) > 0:
            if await self.next(within=min(quiet, left)) is None:
                break
        return self.roster

    async def next(self, *, within: float) -> bool | None:
        """Take one message if one comes within ``within`` seconds.

        Returns:
            None if none came; else whether the roster changed.
        """
        try:
            async with asyncio.timeout(within):
                message = await self.subscription.get_message()
        except TimeoutError:
            return None
        return self.roster.apply(self.settings.local_topic(message.topic), message.payload)


@asynccontextmanager
async def presence_feed(
    settings: BusSettings | None = None, *, connect_timeout: float = 10.0
) -> AsyncIterator[PresenceFeed]:
    """Subscribe to every presence of ``settings.namespace`` for the block.

    Raises:
        MQTT_ERRORS: if the broker cannot be reached.
    """
    settings = settings or BusSettings()
    async with connected_client(settings, within=connect_timeout) as client:
        topic = settings.wire_topic(PRESENCE_FILTER)
        async with client.subscribe(topic, qos=QOS1) as subscription:
            yield PresenceFeed(settings, subscription)


async def read_presence(
    settings: BusSettings | None = None, *, quiet: float = QUIET, limit: float = LIMIT
) -> Roster:
    """The instances running now, as their retained presences on the broker say."""
    async with presence_feed(settings) as feed:
        return await feed.settle(quiet=quiet, limit=limit)
