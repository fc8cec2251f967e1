"""Reading and writing a service's retained config message on the broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bus._internal.mqtt import Client, connected_client, publish_retained, read_retained
from bus.config.model import LiveConfig, Overrides, decode, encode
from bus.config.topics import config_topic
from bus.settings import BusSettings

TIMEOUT = 10.0
"""Seconds connecting, reading or writing may take before the broker counts as unreachable."""


@dataclass
class ConfigStore:
    """Services' config messages, over one connected client.

    Attributes:
        settings: The namespace (and broker) the messages live in.
        client: A connected client.
        timeout: Seconds one read or write may take.
    """

    settings: BusSettings
    client: Client
    timeout: float = TIMEOUT

    async def read(self, service: str) -> Overrides:
        """The overrides retained for ``service``; ``{}`` if there are none.

        Raises:
            ConfigError: the retained message is not a JSON object.
            MQTT_ERRORS: the broker did not answer.
        """
        return decode(await self.read_payload(service), topic=config_topic(self.settings, service))

    async def read_payload(self, service: str) -> bytes:
        """The retained config message of ``service`` as it is; empty if there is none.

        An absent message costs one round trip, not a wait (see
        :func:`~bus._internal.mqtt.read_retained`).

        Raises:
            MQTT_ERRORS: the broker did not answer.
        """
        topic = config_topic(self.settings, service)
        return await read_retained(self.client, topic, within=self.timeout)

    async def write(self, service: str, overrides: Mapping[str, Any]) -> None:
        """Retain ``overrides`` for ``service`` (none: delete the message), at QoS 1.

        Raises:
            MQTT_ERRORS: the broker did not take it.
        """
        async with asyncio.timeout(self.timeout):
            await publish_retained(
                self.client, config_topic(self.settings, service), encode(overrides)
            )


@asynccontextmanager
async def config_store(
    settings: BusSettings | None = None, *, within: float = TIMEOUT
) -> AsyncIterator[ConfigStore]:
    """A :class:`ConfigStore` on a connection of its own, for the block.

    Raises:
        MQTT_ERRORS: the broker cannot be reached.
    """
    settings = settings or BusSettings()
    async with connected_client(settings, within=within) as client:
        yield ConfigStore(settings, client, within)


async def read_overrides(
    settings: BusSettings | None, service: str, *, within: float = TIMEOUT
) -> Overrides:
    """The overrides retained for ``service`` (see :meth:`ConfigStore.read`)."""
    async with config_store(settings, within=within) as store:
        return await store.read(service)


async def write_overrides(
    settings: BusSettings | None,
    service: str,
    overrides: Mapping[str, Any],
    *,
    within: float = TIMEOUT,
) -> None:
    """Retain ``overrides`` for ``service``, replacing what was there, unchecked.

    ``bus config set`` checks them first against the service's settings; this is for
    code that already did (or a test that wants a bad message on the wire).
    """
    async with config_store(settings, within=within) as store:
        await store.write(service, overrides)


@dataclass(frozen=True, slots=True)
class Edit:
    """A change to a service's retained overrides: what they were, what they are."""

    before: Overrides
    after: Overrides

    @property
    def changed(self) -> list[str]:
        """Keys set, changed or removed, in order."""
        keys = {**self.before, **self.after}
        return sorted(k for k in keys if self.before.get(k, ...) != self.after.get(k, ...))


async def update_config(
    config: LiveConfig,
    settings: BusSettings | None = None,
    *,
    assign: Mapping[str, Any] | None = None,
    remove: Collection[str] = (),
    clear: bool = False,
    within: float = TIMEOUT,
) -> Edit:
    """Merge into a service's retained overrides, check the result, and retain it.

    What ``bus config set`` and ``unset`` do. The new values are checked against the
    service's settings before anything is sent, then the merged whole once the
    current overrides are read; nothing is published if either fails, or if nothing
    changes. Two edits at the same moment may lose one of them (read, then write).

    Args:
        config: The service's :class:`LiveConfig` (``service.live_config``).
        settings: The broker and namespace; default: from the environment.
        assign: Keys to set (or replace).
        remove: Keys to drop, so that the service's own value applies again.
        clear: Drop every override first.

    Raises:
        ConfigError: an unknown key, a secret, or an invalid value: nothing published.
        MQTT_ERRORS: the broker cannot be reached.
    """
    assign = dict(assign or {})
    name = config.owner.name
    config.resolve(assign)
    async with config_store(settings, within=within) as store:
        before = await store.read(name)
        kept = {} if clear else {k: v for k, v in before.items() if k not in remove}
        after = {**kept, **assign}
        # Keys that only a newer version knows are kept as they are, not refused.
        config.resolve(after, strict=False)
        if after != before:
            await store.write(name, after)
    return Edit(before, after)
