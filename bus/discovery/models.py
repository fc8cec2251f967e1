"""What a running replica says about itself: its presence message."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from bus.constants import PRESENCE_TOPIC

STALE_AFTER = 3
"""Heartbeat intervals without a refresh after which a presence counts as stale: its
replica is probably gone without its will reaching the broker (a broker restart)."""

EVERY_EVENT = "*"
"""Stands for every domain event in ``consumes`` (a handler of ``on_every_event``)."""


class Health(BaseModel):
    """Cheap checks made at each heartbeat; ``None``: the replica has no such store open."""

    model_config = ConfigDict(frozen=True)

    broker: bool
    redis: bool | None = None
    mongo: bool | None = None

    @property
    def problems(self) -> list[str]:
        """The names of what was found unreachable, such as ``["redis"]``."""
        return [name for name, ok in self if ok is False]


class Presence(BaseModel):
    """One running replica, as its retained message on ``chorus/presence/<service>/<instance>``.

    Unknown fields are ignored, so readers of an older version still read a newer one.

    Attributes:
        service: The service's name.
        instance: The replica's name (``BUS_INSTANCE``; ``<instance>-worker`` for a
            worker-only process).
        client_id: Its MQTT client id.
        version: The service's declared version, or the installed package's.
        started_at: When the replica started.
        heartbeat_at: When this message was published; refreshed every
            ``heartbeat_interval`` seconds.
        consumes: CloudEvents types it handles (``*``: every domain event).
        produces: CloudEvents types it declares it publishes.
        jobs: The service's job names.
        worker: Whether this replica runs a job worker.
        shared: Whether its replicas split each stream.
        ops_url: Where the replica serves ``/healthz``, ``/readyz`` and ``/metrics``
            (``bus run --ops-port``), such as ``http://127.0.0.1:41234``; on loopback,
            so only a reader on its ``host`` reaches it. None: it serves none (and a
            replica of an older version never says).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    service: str
    instance: str
    client_id: str
    version: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    heartbeat_interval: float
    consumes: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()
    worker: bool = False
    shared: bool = True
    health: Health
    ops_url: str | None = None

    @property
    def topic(self) -> str:
        """Its topic, without the namespace."""
        return PRESENCE_TOPIC.format(service=self.service, instance=self.instance)

    @property
    def every_event(self) -> bool:
        return EVERY_EVENT in self.consumes

    def age(self, now: datetime) -> float:
        """Seconds since the last heartbeat (negative if the clocks disagree)."""
        return (now - self.heartbeat_at).total_seconds()

    def is_stale(self, now: datetime) -> bool:
        """Whether the last heartbeat is older than :data:`STALE_AFTER` intervals."""
        return self.age(now) > STALE_AFTER * self.heartbeat_interval

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, payload: bytes) -> Presence:
        """Parse a presence message.

        Raises:
            pydantic.ValidationError: if it is not one.
        """
        return cls.model_validate_json(payload)
