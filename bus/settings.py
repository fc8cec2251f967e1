"""Connection settings, from the environment with defaults for the local stack."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus.deadletters.durations import Duration
from bus.tracing import TracingExporter


class BusSettings(BaseSettings):
    """Where the bus and the stores are. Each field reads ``BUS_<NAME>``.

    The defaults point at the local stack that ``make up`` starts. Its passwords are
    not in them: unless ``redis_url``, ``mongo_url`` or ``postgres_url`` is given, the
    login that ``infra/stack.sh`` generated in ``credentials_dir`` (``redis.json``,
    ``mongo.json``, ``postgres.json``) is added to the default, and ``mqtt_ca_file``
    defaults to the stack's CA (``tls/ca.crt``). A URL given explicitly is used as it
    is, with its own credentials or none.
    """

    model_config = SettingsConfigDict(env_prefix="BUS_", extra="ignore")

    mqtt_url: str = Field(
        default="mqtt://localhost:1883",
        description="The broker: mqtt://HOST:PORT, or mqtts://HOST:PORT for TLS (the local "
        "stack's TLS listener is mqtts://localhost:8883).",
    )
    mqtt_ca_file: Path | None = Field(
        default=None,
        description="The CA certificates (PEM) an mqtts:// broker's certificate must be "
        "signed by. Unset: the local stack's generated CA (credentials_dir/tls/ca.crt) if it "
        "exists, else the system's trusted CAs (a managed broker with a public certificate).",
    )
    redis_url: str = "redis://localhost:6379/0"
    mongo_url: str = "mongodb://localhost:27017/chorus"
    postgres_url: str = "postgresql+asyncpg://localhost:5432/chorus"

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
    concurrency: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="Deliveries of one subscription in flight at once in a replica (a "
        "service or a handler may set its own; 1 handles one event at a time); their PUBACKs "
        "still go in arrival order. 16: draining 5,000 events, 1 / 4 / 16 / 64 gave 1,307 / "
        "1,841 / 1,948 / 1,985 events/s and 0.65 / 0.52 / 0.50 / 0.48 CPU s per 1,000.",
    )
    journal_first: bool = Field(
        default=True,
        description="Write each published event to the journal before sending it, so an "
        "event the broker acknowledged and then lost (killed before it saved) is still "
        "delivered by the consumers' catch-up. Costs one MongoDB write per publish.",
    )

    deadletter_retention: Duration = Field(
        default=timedelta(days=30),
        description="How long a dead letter is kept after its last failure: the journal "
        "service purges older ones (and logs how many). A duration: 30d, 12h, 30m, P30D or "
        "seconds; 0 keeps dead letters forever.",
    )

    tracing: TracingExporter = Field(
        default=TracingExporter.OFF,
        description="Where ``bus run``, ``bus worker`` and ``bus publish`` export their "
        "OpenTelemetry spans: off, console (one JSON object per line on stderr) or otlp "
        "(HTTP/protobuf; endpoint and headers from the standard OTEL_EXPORTER_OTLP_* "
        "variables, default http://localhost:4318).",
    )

    @model_validator(mode="after")
    def _local_stack_logins(self) -> Self:
        """The generated logins and CA of the local stack, where nothing was given."""
        given = self.model_fields_set
        for field, name, query in _STACK_LOGINS:
            login = None if field in given else _stack_login(self.credentials_dir / name)
            if login is not None:
                setattr(self, field, _with_login(getattr(self, field), *login, query))
        ca = self.credentials_dir / "tls" / "ca.crt"
        if "mqtt_ca_file" not in given and ca.is_file():
            self.mqtt_ca_file = ca
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for field, value in super().__repr_args__():
            yield field, (_redacted(value) if field and field.endswith("_url") else value)

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


_STACK_LOGINS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("redis_url", "redis.json", {}),
    ("postgres_url", "postgres.json", {}),
    # FerretDB keeps its user in the admin database (infra/stack.sh).
    ("mongo_url", "mongo.json", {"authSource": "admin"}),
)
"""Each store URL, its login file in the credentials folder (written by
infra/stack_secrets.py), and what the URL needs besides user and password."""


def _stack_login(path: Path) -> tuple[str, str] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return str(data["username"]), str(data["password"])


def _with_login(url: str, username: str, password: str, query: dict[str, str]) -> str:
    """``url`` logging in as ``username`` (unless it names a user already)."""
    parts = urlsplit(url)
    if parts.username is not None:
        return url
    login = f"{quote(username, safe='')}:{quote(password, safe='')}@"
    params = query | dict(parse_qsl(parts.query))  # what the URL says wins
    return urlunsplit(parts._replace(netloc=login + parts.netloc, query=urlencode(params)))


def _redacted(value: Any) -> Any:
    """A URL with its password shown as ``***`` (for ``repr``)."""
    if not isinstance(value, str):
        return value
    parts = urlsplit(value)
    if parts.password is None:
        return value
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
