"""Where a service's config travels, in a deployment's namespace."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bus.constants import CONFIG_TOPIC

if TYPE_CHECKING:
    from bus.settings import BusSettings


def config_topic(settings: BusSettings, service: str) -> str:
    """The wire topic of ``service``'s retained config overrides."""
    return settings.wire_topic(CONFIG_TOPIC.format(service=service))
