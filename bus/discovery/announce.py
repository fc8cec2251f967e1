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
import contextlib
import functools
import importlib.metadata
import logging
import math
import os
import socket
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import zmqtt
from faststream.exceptions import IncorrectState

from bus.discovery.health import check_health
from bus.discovery.models import EVERY_EVENT, Health, Presence
from bus.discovery.topics import instance_of, presence_topic

if TYPE_CHECKING:
    from faststream.mqtt import MQTTBroker

    from bus.service import Service
    from bus.settings import BusSettings

log = logging.getLogger("bus.discovery")

EXPIRES_AFTER = 10
"""Heartbeat intervals after which the broker itself drops a presence nobody refreshed."""

PUBLISH_TIMEOUT = 5.0
"""Seconds a presence publish may wait for its PUBACK."""

TICK = 0.5
"""Seconds between looks at the connection, to announce again right after a reconnection."""

_FAILED = (zmqtt.MQTTError, OSError, TimeoutError, IncorrectState)


def presence_will(settings: BusSettings, service: str, client_id: str) -> zmqtt.Will:
    """The will of a replica's connection: an empty retained message on its presence
    topic, which deletes its presence once the broker finds the connection dead."""
    topic = presence_topic(settings, service, instance_of(service, client_id, settings.namespace))
    return zmqtt.Will(topic=topic, payload=b"", qos=zmqtt.QoS.AT_LEAST_ONCE, retain=True)


@functools.cache
def package_version() -> str:
    """The installed ``chorus`` package's version (as ``bus docs`` reports it)."""
    try:
        return importlib.metadata.version("chorus")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def describe(
    service: Service,
    *,
    client_id: str,
    consuming: bool,
    working: bool,
    started_at: datetime,
    health: Health,
    now: datetime | None = None,
) -> Presence:
    """The presence of one replica of ``service``, as it would be announced now.

    Args:
        client_id: The replica's MQTT client id (its instance name follows from it).
        consuming: Whether it handles events (``False``: a worker-only process).
        working: Whether it runs a job worker.
        started_at: When it started.
        health: The result of :func:`~bus.discovery.health.check_health`.
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
        jobs=tuple(j.name for j in service.jobs),
        worker=working,
        shared=service.shared,
        health=health,
    )


class Announcer:
    """Keeps one replica's retained presence on the broker while it runs.

    Publishing never raises: a failed heartbeat is logged and tried again at the
    next one (or right after the next reconnection).

    Args:
        service: The started service.
        broker: Its connected broker, whose connection carries :func:`presence_will`.
        client_id: That connection's client id.
        consuming: Whether this replica handles events.
        working: Whether it runs a job worker.
    """

    def __init__(
        self,
        service: Service,
        broker: MQTTBroker,
        *,
        client_id: str,
        consuming: bool,
        working: bool,
    ) -> None:
        self.service = service
        self.broker = broker
        self.client_id = client_id
        self.consuming = consuming
        self.working = working
        self.started_at = datetime.now(UTC)
        self.topic = presence_topic(
            service.settings,
            service.name,
            instance_of(service.name, client_id, service.settings.namespace),
        )
        self._interval = service.settings.presence_interval
        self._announced_on: int | None = None  # the connection of the last announcement
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Announce the replica and start the heartbeat."""
        await self.announce()
        self._task = asyncio.create_task(self._heartbeat(), name=f"presence:{self.topic}")

    async def stop(self) -> None:
        """Stop the heartbeat and delete the presence (before the connection closes)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if not await self._publish(b"", expiry=None):
            # The will or the expiry deletes it in the end.
            log.warning("%s: could not clear its presence on %s", self.client_id, self.topic)

    async def presence(self) -> Presence:
        """The presence as of now, with a fresh health check."""
        return describe(
            self.service, client_id=self.client_id, consuming=self.consuming,
            working=self.working, started_at=self.started_at,
            health=await check_health(self.service),
        )  # fmt: skip

    async def announce(self) -> bool:
        """Publish the presence as of now; False (logged) if it did not reach the broker.

        A failed one is tried again at the next heartbeat.
        """
        self._announced_on = self._connection()
        payload = (await self.presence()).to_bytes()
        expiry = math.ceil(EXPIRES_AFTER * self._interval)
        if not await self._publish(payload, expiry=expiry):
            log.warning("%s: presence heartbeat not published", self.client_id)
            return False
        return True

    async def _heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self._interval
        while True:
            await asyncio.sleep(min(TICK, self._interval))
            connection = self._connection()
            if connection is None:
                continue  # nothing can be published; the broker sent the will if it is gone
            # After a reconnection at once: the old connection's will may have deleted it.
            if connection != self._announced_on or loop.time() >= due:
                due = loop.time() + self._interval
                try:
                    await self.announce()
                except Exception:  # a bug here must not end the heartbeat for good
                    log.exception("%s: presence heartbeat failed", self.client_id)

    def _connection(self) -> int | None:
        try:
            client: zmqtt.MQTTClient = self.broker.config.client
            return client.connection_info.connection_id
        except (zmqtt.MQTTDisconnectedError, IncorrectState):
            return None

    async def _publish(self, payload: bytes, *, expiry: int | None) -> bool:
        properties = zmqtt.PublishProperties(
            content_type="application/json", message_expiry_interval=expiry
        )
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                await self.broker.config.client.publish(
                    self.topic, payload, qos=zmqtt.QoS.AT_LEAST_ONCE, retain=True,
                    properties=properties,
                )  # fmt: skip
        except _FAILED as exc:
            log.debug("%s: presence publish on %s failed: %r", self.client_id, self.topic, exc)
            return False
        return True
