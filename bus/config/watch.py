"""One replica following its service's config: read before it starts, then live."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from bus._internal.mqtt import MQTT_ERRORS, Client, Follower
from bus.config.model import (
    ConfigError,
    LiveConfig,
    Overrides,
    SettingChange,
    Settled,
    decode,
    show,
)
from bus.config.store import ConfigStore
from bus.config.topics import config_topic

if TYPE_CHECKING:
    from bus.settings import BusSettings

log = logging.getLogger("bus.config")

LOAD_TIMEOUT = 5.0
"""Seconds a starting replica waits for its config before it starts without it."""


class Configured(Protocol):
    """What the watcher reads of a service (a :class:`bus.Service`)."""

    name: str
    settings: BusSettings
    live_config: LiveConfig


class ConfigWatcher:
    """Keeps one replica's settings in line with its service's retained config message.

    :meth:`load` reads the message before the service builds anything (on a short
    connection of its own) and applies every override, restart-only ones included.
    :meth:`follow` then subscribes on the replica's own connection (a plain QoS 1
    subscription; the broker sends the retained message again after each reconnection).
    Each message is validated as a whole: an invalid one is logged as an ERROR and
    changes nothing; a valid one applies its live settings (logged at INFO) and leaves
    the others as they are, with a WARNING that they need a restart.

    Args:
        service: The replica's service; ``service.live_config`` says what is live.
    """

    def __init__(self, service: Configured) -> None:
        self.service = service
        self.config = service.live_config
        self.topic = config_topic(service.settings, service.name)
        self._follower: Follower | None = None
        self._pending: tuple[SettingChange, ...] = ()
        self._ignored: tuple[str, ...] = ()
        self._last: bytes | None = None

    async def load(self, client: Client) -> Settled | None:
        """Read and apply the retained config, restart-only settings included, on the
        replica's ``client`` (connected, before it starts consuming).

        Never raises: with a broker that does not answer, or an invalid message, the
        replica starts with its own settings (logged).
        """
        try:
            store = ConfigStore(self.service.settings, client, LOAD_TIMEOUT)
            payload = await store.read_payload(self.service.name)
        except MQTT_ERRORS as exc:
            log.warning(
                "%s config: could not read %s at start (%r); starting with its own settings, "
                "live ones follow once connected", self.service.name, self.topic, exc,
            )  # fmt: skip
            return None
        return self.receive(payload, at_start=True)

    async def follow(self, client: Client) -> None:
        """Subscribe on the replica's connection and apply each new message (a failed
        subscription is logged: changes then apply after a restart)."""
        self._follower = Follower(client, self.topic, self.receive)
        await self._follower.start()

    async def stop(self) -> None:
        """Stop following and unsubscribe (before the connection closes)."""
        if self._follower is not None:
            await self._follower.stop()
            self._follower = None

    def receive(self, payload: bytes, *, at_start: bool = False) -> Settled | None:
        """Apply one config message; None if it was refused (logged) or seen last time.

        The broker sends the retained message again after each reconnection: the same
        message as the last one changes nothing and is not looked at again.
        """
        if payload == self._last and not at_start:
            return None
        self._last = payload
        try:
            overrides = decode(payload, topic="the message")
        except ConfigError as exc:
            self._refuse(str(exc))
            return None
        return self.take(overrides, at_start=at_start)

    def take(self, overrides: Overrides, *, at_start: bool = False) -> Settled | None:
        """Validate ``overrides`` as a whole and apply them; None (logged) if refused.

        Args:
            overrides: The config message's object.
            at_start: Apply restart-only settings too (nothing has used them yet).
        """
        name = self.service.name
        try:
            resolved = self.config.resolve(overrides, strict=False)
        except ConfigError as exc:
            self._refuse(str(exc))
            return None
        if resolved.ignored and resolved.ignored != self._ignored:
            log.warning("%s config: ignored %s: not settings of this version", name,
                        ", ".join(resolved.ignored))  # fmt: skip
        self._ignored = resolved.ignored
        outcome = self.config.apply(resolved, everything=at_start)
        if outcome.applied:
            log.info("%s config: applied %s", name, ", ".join(map(str, outcome.applied)))
        if outcome.pending and outcome.pending != self._pending:
            waiting = ", ".join(f"{c.key}={show(c.new)} (still {show(c.old)})"
                                for c in outcome.pending)  # fmt: skip
            log.warning("%s config: %s needs a restart; not applied", name, waiting)
        self._pending = outcome.pending
        return outcome

    def _refuse(self, problem: str) -> None:
        log.error("%s config: refused %s: %s; the config in force stays",
                  self.service.name, self.topic, problem)  # fmt: skip
