"""Connection settings, from the environment with defaults for the local stack."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus.tracing import TracingExporter


class BusSettings(BaseSettings):
    """Where the bus and the stores are. Each field reads ``BUS_<NAME>``.

    The defaults point at the local stack that ``make up`` starts; they hold
    no secret worth keeping.
    """

    model_config = SettingsConfigDict(env_prefix="BUS_", extra="ignore")

    mqtt_url: str = "mqtt://localhost:1883"
    redis_url: str = "redis://localhost:6379/0"
    mongo_url: str = "mongodb://localhost:27017/chorus"
    postgres_url: str = "postgresql+asyncpg://chorus:chorus@localhost:5432/chorus"

    mqtt_username: str | None = Field(
        default=None,
        description="The broker identity to connect as (or user:password in mqtt_url), for a "
        "broker managed elsewhere. Unset: the credentials in credentials_dir (a service "
        "replica's own, else ops).",
    )
    mqtt_password: SecretStr | None = None
    credentials_dir: Path = Field(
        default_factory=lambda: _config_home() / "chorus" / "credentials",
        description="Where `make up` keeps the generated broker credentials (owner-only): "
        "ops.json, services/<service>.json, outside/<name>.json.",
    )

    namespace: str = Field(
        default="",
        description="A topic prefix for everything this deployment sends and receives, so "
        "that several deployments (a developer's stack, a test run) can share one broker "
        "without seeing each other's events. Give each its own databases too.",
        pattern=r"^([A-Za-z0-9_-]+)?$",
    )
    instance: str = Field(
        default="1",
        description="This replica's name; with the service name it forms the stable MQTT "
        "client id that keeps its persistent session.",
        pattern=r"^[A-Za-z0-9_.-]+$",
    )
    session_expiry: int = Field(
        default=7 * 24 * 3600,
        gt=0,
        description="Seconds the broker keeps a stopped replica's session and queues its events.",
    )
    keepalive: int = Field(default=30, gt=0)
    presence_interval: float = Field(
        default=10.0,
        gt=0,
        description="Seconds between a replica's presence heartbeats (``bus services``); "
        "a presence not refreshed for three intervals is shown as stale.",
    )
    dedup_ttl: int = Field(
        default=7 * 24 * 3600,
        gt=0,
        description="Seconds a handled event id is remembered, so a redelivery is skipped.",
    )
    claim_lease: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a replica's claim on an event it is handling lasts if it dies.",
    )
    journal_first: bool = Field(
        default=True,
        description="Write each published event to the journal before sending it, so an "
        "event the broker acknowledged and then lost (killed before it saved) is still "
        "delivered by the consumers' catch-up. Costs one MongoDB write per publish.",
    )

    tracing: TracingExporter = Field(
        default=TracingExporter.OFF,
        description="Where ``bus run``, ``bus worker`` and ``bus publish`` export their "
        "OpenTelemetry spans: off, console (one JSON object per line on stderr) or otlp "
        "(HTTP/protobuf; endpoint and headers from the standard OTEL_EXPORTER_OTLP_* "
        "variables, default http://localhost:4318).",
    )

    def scoped(self, service: str) -> str:
        """``service``'s name in what deployments may share: Redis keys (dedup records,
        arq queues and job ids) and MQTT client ids. The plain name, or
        ``<namespace>.<service>`` in a namespace, so that deployments sharing a Redis
        and a broker never take each other's jobs, records or sessions."""
        return f"{self.namespace}.{service}" if self.namespace else service

    def client_id(self, service: str, instance: str | None = None) -> str:
        """The MQTT client id of a replica of ``service`` (default: this one):
        ``<service>-<instance>``, in the namespace's scope (:meth:`scoped`)."""
        return f"{self.scoped(service)}-{instance or self.instance}"

    def wire_topic(self, topic: str) -> str:
        """``topic`` (or topic filter) as it travels in this namespace."""
        return f"{self.namespace}/{topic}" if self.namespace else topic

    def local_topic(self, wire_topic: str) -> str:
        """The namespace-free topic of a message received in this namespace."""
        if self.namespace and wire_topic.startswith(self.namespace + "/"):
            return wire_topic[len(self.namespace) + 1 :]
        return wire_topic


def _config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
