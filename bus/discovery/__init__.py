"""Service discovery without a registry: each replica's retained presence on the broker.

A running replica keeps a retained JSON :class:`Presence` on
``chorus/presence/<service>/<instance>`` (what it consumes and produces, its jobs,
its health, where it serves its metrics), refreshed by a heartbeat. A clean stop
deletes it, and so does the MQTT will of its connection when it dies. Anyone can read
them all from the broker (:func:`read_presence`; ``bus services``, ``bus graph --live``,
the console).
"""

from bus.discovery.announce import (
    Announcer,
    describe,
    package_version,
    presence_will,
)
from bus.discovery.health import check_health
from bus.discovery.models import EVERY_EVENT, STALE_AFTER, Health, Presence
from bus.discovery.reader import PresenceFeed, Roster, Sighting, presence_feed, read_presence
from bus.discovery.topics import PRESENCE_FILTER, instance_of, presence_topic

__all__ = [
    "EVERY_EVENT",
    "PRESENCE_FILTER",
    "STALE_AFTER",
    "Announcer",
    "Health",
    "Presence",
    "PresenceFeed",
    "Roster",
    "Sighting",
    "check_health",
    "describe",
    "instance_of",
    "package_version",
    "presence_feed",
    "presence_topic",
    "presence_will",
    "read_presence",
]
