"""Where presence messages travel, in a deployment's namespace."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bus.constants import PRESENCE_TOPIC

if TYPE_CHECKING:
    from bus.settings import BusSettings

PRESENCE_FILTER = PRESENCE_TOPIC.format(service="+", instance="+")
"""Every replica's presence (names hold no ``/``, so two levels match them all)."""


def presence_topic(settings: BusSettings, service: str, instance: str) -> str:
    """The wire topic of one replica's presence."""
    return settings.wire_topic(PRESENCE_TOPIC.format(service=service, instance=instance))


def instance_of(service: str, client_id: str, namespace: str = "") -> str:
    """The replica name in a client id: ``indexer-2`` → ``2``, ``indexer-2-worker`` →
    ``2-worker`` (a worker-only process has a connection, and a presence, of its own);
    ``dev.indexer-2`` → ``2`` in the namespace ``dev``."""
    if namespace:
        client_id = client_id.removeprefix(f"{namespace}.")
    return client_id.removeprefix(f"{service}-")
