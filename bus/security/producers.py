"""Which services may produce each event type, and the check consumers make with it.

``bus credentials apply`` retains the map on ``chorus/producers`` (in the deployment's
namespace), derived from the same declarations as the broker's rules: each event type's
producing services and outside teams, plus ``cli`` (what people publish with the ``bus``
command line, which only ``ops`` may do for any type). Every replica reads it before it
consumes and follows it; an event whose CloudEvents ``source`` (``/<service>/<instance>``)
names no producer of its type is dead-lettered with that reason. Without a map (a broker
whose rules are managed elsewhere, a test namespace) nothing is checked.

The check holds a compromised service to its own name: the broker already lets it publish
only the types it produces, and this keeps it from passing its events off as another
producer's. ``source`` itself is a string the sender writes: the broker's rules are what
keep everyone else out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bus._internal.mqtt import MQTT_ERRORS, Client, Follower, read_retained
from bus.constants import PRODUCERS_TOPIC

if TYPE_CHECKING:
    from bus.declared import Declared
    from bus.envelope import Envelope
    from bus.settings import BusSettings

log = logging.getLogger("bus.security")

COMMAND_LINE = "cli"
"""The ``source`` name of what people and scripts publish with :class:`bus.Publisher`."""

LOAD_TIMEOUT = 5.0


def producer_map(
    services: Iterable[Declared], outside: Iterable[Mapping[str, Any]] = ()
) -> dict[str, list[str]]:
    """Event type → the names that may produce it (services, outside teams, ``cli``)."""
    found: dict[str, set[str]] = {}
    for service in services:
        for event in service.produces:
            found.setdefault(event.contract.type, set()).add(service.name)
    for entry in outside:
        for event_type in entry.get("produces", []):
            found.setdefault(event_type, set()).add(entry["name"])
    return {t: sorted(names | {COMMAND_LINE}) for t, names in sorted(found.items())}


def encode_map(producers: Mapping[str, Sequence[str]]) -> bytes:
    return json.dumps(producers, sort_keys=True).encode()


class Producers:
    """One replica's view of the producer map, and the check of each event's source.

    Args:
        settings: The namespace the map lives in.
        service: The replica's service (logs).
    """

    def __init__(self, settings: BusSettings, service: str) -> None:
        self.topic = settings.wire_topic(PRODUCERS_TOPIC)
        self.service = service
        self.by_type: dict[str, frozenset[str]] | None = None
        self._follower: Follower | None = None

    def check(self, envelope: Envelope) -> str | None:
        """Why ``envelope`` must not be trusted, or None (also without a map)."""
        if self.by_type is None:
            return None
        producers = self.by_type.get(envelope.type)
        if producers is None:
            return f"{envelope.type} has no declared producer"
        name = envelope.source.strip("/").split("/", 1)[0]
        if name in producers:
            return None
        return (
            f"source {envelope.source} is not a replica of a declared producer of "
            f"{envelope.type} ({', '.join(sorted(producers))})"
        )

    def receive(self, payload: bytes) -> None:
        """Take a new map (empty: none); a malformed one keeps the last (logged)."""
        if not payload:
            self.by_type = None
            return
        try:
            raw = json.loads(payload)
            self.by_type = {str(t): frozenset(map(str, names)) for t, names in raw.items()}
        except (ValueError, AttributeError, TypeError) as exc:
            log.error("%s: ignored a malformed producer map on %s: %r", self.service,
                      self.topic, exc)  # fmt: skip

    async def load(self, client: Client) -> None:
        """Read the map on the replica's connection before it consumes; never raises."""
        try:
            self.receive(await read_retained(client, self.topic, within=LOAD_TIMEOUT))
        except MQTT_ERRORS as exc:
            log.warning("%s: could not read %s (%r); sources are checked once it arrives",
                        self.service, self.topic, exc)  # fmt: skip

    async def follow(self, client: Client) -> None:
        """Apply each new map while the replica runs."""
        self._follower = Follower(client, self.topic, self.receive)
        await self._follower.start()

    async def stop(self) -> None:
        """Stop following and unsubscribe (before the connection closes)."""
        if self._follower is not None:
            await self._follower.stop()
            self._follower = None
