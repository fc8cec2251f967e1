"""Announcing one replica: its retained presence at start, a heartbeat, and its clearing.

Three ways a presence goes away:

- a clean stop publishes an empty retained message on the presence topic (which
  deletes the retained one) before the replica disconnects;
- a replica that dies leaves that same empty message as its MQTT will: the broker
  sends it as soon as it sees the connection gone, at once for a closed socket (a
  killed process) and after 1.5 times the keepalive for a silent one (a lost network,
  a frozen host; Mosquitto 2.0 looks for those only every 6 s or so, so up to about
  7 s later than that);
- a will that never fires (the broker restarted while the replica died) leaves a
  presence that no heartbeat refreshes: readers show it as stale after
  :data:`~bus.discovery.models.STALE_AFTER` intervals, and the broker drops it after
  :data:`EXPIRES_AFTER` (MQTT 5 message expiry, which Mosquitto applies to retained
  messages).
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import logging
import math
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bus._internal.broker import Broker, raw_client
from bus._internal.infra import cancel
from bus._internal.mqtt import MQTT_ERRORS, Will, publish_retained, will
from bus.discovery.models import EVERY_EVENT, Health, Presence
from bus.discovery.topics import instance_of, presence_topic

if TYPE_CHECKING:
    from bus.declared import Declared
    from bus.settings import BusSettings

log = logging.getLogger("bus.discovery")

EXPIRES_AFTER = 10
"""Heartbeat intervals after which the broker itself drops a presence nobody refreshed."""

PUBLISH_TIMEOUT = 5.0
"""Seconds a presence publish may wait for its PUBACK."""


def presence_will(settings: BusSettings, service: str, client_id: str) -> Will:
    """The will of a replica's connection: an empty retained message on its presence
    topic, which deletes its presence once the broker finds the connection dead."""
    topic = presence_topic(settings, service, instance_of(service, client_id, settings.namespace))
    return will(topic)


@functools.cache
def package_version() -> str:
    """The installed ``chorus`` package's version (as ``bus docs`` reports it)."""
    try:
        return importlib.metadata.version("chorus")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def describe(
    service: Declared,
    *,
    client_id: str,
    consuming: bool,
    working: bool,
    started_at: datetime,
    health: Health,
    ops_url: str | None = None,
    now: datetime | None = None,
) -> Presence:
    """The presence of one replica of ``service``, as it would be announced now.

    Args:
        client_id: The replica's MQTT client id (its instance name follows from it).
        consuming: Whether it handles events (``False``: a worker-only process).
        working: Whether it runs a job worker.
        started_at: When it started.
        health: The result of :func:`~bus.discovery.health.check_health`.
        ops_url: Where it serves ``/healthz``, ``/readyz`` and ``/metrics``, if it does
            (:func:`bus.ops.serve_ops`).
        now: The heartbeat time; default: the current time.
    """
    consumes: list[str] = []
    if consuming:
        consumes = [e.contract.type for e in service.consumes]
        if service.consumes_every_event:
            consumes.append(EVERY_EVENT)
    return Presence(
        service=service.name,
        instance=instance_of(service.name, client_id, service.settings.namespace),
        client_id=client_id,
        version=service.version or package_version(),
        host=socket.gethostname(),
        pid=os.getpid(),
        started_at=started_at,
        heartbeat_at=now or datetime.now(UTC),
        heartbeat_interval=service.settings.presence_interval,
        consumes=tuple(consumes),
        produces=tuple(e.contract.type for e in service.produces),
        jobs=tuple(service.job_names),
        worker=working,
        shared=service.shared,
        health=health,
        ops_url=ops_url,
    )


class Announcer:
    """Keeps one replica's retained presence on the broker while it runs.

    Publishing never raises: a failed heartbeat is logged and tried again at the
    next one, or right after the next reconnection (:meth:`reconnected`).

    Args:
        presence: The replica's presence as of now, with a fresh health check.
        broker: Its broker, whose connection carries :func:`presence_will`.
        topic: Its presence topic.
        interval: Seconds between heartbeats.
        connected: Whether the connection is up now (no heartbeat in a gap: the broker
            sent the will if the connection is gone); default: always try.
    """

    def __init__(
        self,
        presence: Callable[[], Awaitable[Presence]],
        broker: Broker,
        *,
        topic: str,
        interval: float,
        connected: Callable[[], bool] = lambda: True,
    ) -> None:
        self.presence = presence
        self.broker = broker
        self.connected = connected
        self.topic = topic
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Announce the replica and start the heartbeat."""
        await self.announce()
        self._task = asyncio.create_task(self._heartbeat(), name=f"presence:{self.topic}")

    async def stop(self) -> None:
        """Stop the heartbeat and delete the presence (before the connection closes)."""
        await cancel(self._task)
        self._task = None
        if not await self._publish(b"", expiry=None):
            # The will or the expiry deletes it in the end.
            log.warning("could not clear the presence on %s", self.topic)

    async def reconnected(self, last_up: float) -> None:
        """Announce again at once: the old connection's will may have deleted it."""
        await self.announce()

    async def announce(self) -> bool:
        """Publish the presence as of now; False (logged) if it did not reach the broker.

        A failed one is tried again at the next heartbeat.
        """
        try:
            payload = (await self.presence()).to_bytes()
        except Exception:  # a bug here must not end the heartbeat for good
            log.exception("presence on %s could not be described", self.topic)
            return False
        expiry = math.ceil(EXPIRES_AFTER * self._interval)
        if not await self._publish(payload, expiry=expiry):
            log.warning("presence heartbeat on %s not published", self.topic)
            return False
        return True

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if self.connected():
                try:
                    await self.announce()
                except Exception:  # a bug here must not end the heartbeat for good
                    log.exception("presence heartbeat on %s failed", self.topic)

    async def _publish(self, payload: bytes, *, expiry: int | None) -> bool:
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                await publish_retained(raw_client(self.broker), self.topic, payload, expiry=expiry)
        except MQTT_ERRORS as exc:
            log.debug("presence publish on %s failed: %r", self.topic, exc)
            return False
        return True
