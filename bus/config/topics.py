"""Where a service's config travels, in a deployment's namespace."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from bus.constants import CONFIG_TOPIC

if TYPE_CHECKING:
    from bus.settings import BusSettings


def config_topic(settings: BusSettings, service: str) -> str:
    """The wire topic of ``service``'s retained config overrides."""
    return settings.wire_topic(CONFIG_TOPIC.format(service=service))


def probe_topic(settings: BusSettings, service: str) -> str:
    """A private, never retained topic under the config topic, used once by a reader.

    A reader subscribes to the config topic and to this one, then publishes to this
    one: the broker sends the retained config (if any) before that probe, so the probe
    marks the end of the retained message without waiting on a timer. It is one level
    deeper than the config topic, so no subscriber of domain events (``+/+/+``) gets it.
    """
    return f"{config_topic(settings, service)}/read-{uuid.uuid4().hex}"
