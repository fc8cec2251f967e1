"""Central configuration on the real broker: a change reaches running replicas, invalid
ones are refused, later replicas get it from the retained message, restart-only settings
wait, and the notifier and accounts services follow theirs."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
import zmqtt
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from typer.testing import Result

from bus import BusSettings, Publisher, Service
from bus._internal.broker import make_broker
from bus.config import config_topic, read_overrides, update_config, write_overrides
from bus.deadletters import StoredDeadLetter
from contracts import DocumentReady
from services.accounts import AccountsReader, AccountsSettings, create_user
from services.accounts import create_service as create_accounts
from services.catalog import CatalogEntryBase
from services.notifier import NotifierSettings
from services.notifier import create_service as create_notifier
from tests.helpers import bus, eventually


class WidgetSettings(BaseSettings):
    """A small service's own settings: two live, one read only at start."""

    model_config = SettingsConfigDict(env_prefix="WIDGET_", extra="ignore")

    greeting: str = "hello"
    batch_size: int = Field(default=10, ge=1)
    pool_size: int = Field(default=2, ge=1)


LIVE = {"greeting", "batch_size"}

service = Service("widget", config=WidgetSettings(), live=LIVE)
"""What ``bus config`` loads as ``LOADABLE``; ``bus_config`` puts one under the test's
service name in its place."""

LOADABLE = "tests.integration.test_config:service"


def widget(name: str, settings: BusSettings, instance: str = "1") -> tuple[Service, WidgetSettings]:
    config = WidgetSettings()
    replica_settings = settings.model_copy(update={"instance": instance})
    return Service(name, settings=replica_settings, config=config, live=LIVE), config


@pytest.fixture
async def retained(settings: BusSettings) -> AsyncIterator[list[str]]:
    """Services whose retained config the test leaves: deleted afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        await write_overrides(settings, name, {})


async def bus_config(settings: BusSettings, name: str, *args: str) -> Result:
    """``bus config ARGS`` against the test's broker and namespace, with ``LOADABLE`` the
    widget named ``name``; in a thread, beside the services running in this event loop."""
    env = {
        "BUS_MQTT_URL": settings.mqtt_url,
        "BUS_NAMESPACE": settings.namespace,
        "BUS_MONGO_URL": settings.mongo_url,
    }
    loadable = Service(name, config=WidgetSettings(), live=LIVE)
    with mock.patch.object(sys.modules[__name__], "service", loadable):
        return await asyncio.to_thread(bus, "config", *args, env=env)


def logged(caplog: pytest.LogCaptureFixture, level: int, text: str) -> Callable[[], bool]:
    return lambda: any(r.levelno == level and text in r.getMessage() for r in caplog.records)


async def publish_raw(settings: BusSettings, name: str, payload: bytes) -> None:
    """A retained config message that no check has seen."""
    broker = make_broker(settings, reconnect=False)
    try:
        client = await broker.connect()
        topic = config_topic(settings, name)
        await client.publish(topic, payload, qos=zmqtt.QoS.AT_LEAST_ONCE, retain=True)
    finally:
        await broker.stop()


async def test_a_change_set_with_the_cli_reaches_a_running_service(
    settings: BusSettings,
    retained: list[str],  # before services: deleted once they stopped
    services: list[Service],
    unique: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bus.config")
    name = unique("widget")
    retained.append(name)
    running, config = widget(name, settings)
    services.append(running)
    await running.start()

    result = await bus_config(settings, name, "set", LOADABLE, "batch_size=3", "greeting=good day")
    assert result.exit_code == 0, result.stderr
    assert f"{name}: batch_size=3 (running replicas apply it live)" in result.stdout

    await eventually(lambda: config.batch_size == 3, what="the new batch size in force")
    assert running.config is config
    assert config.greeting == "good day"
    applied = 'config: applied greeting="good day" (was "hello"), batch_size=3 (was 10)'
    await eventually(logged(caplog, logging.INFO, applied), what="the change logged")

    shown = await bus_config(settings, name, "get", name, "--json")
    assert json.loads(shown.stdout) == {"batch_size": 3, "greeting": "good day"}

    result = await bus_config(settings, name, "unset", LOADABLE, "greeting")
    assert result.exit_code == 0, result.stderr
    await eventually(lambda: config.greeting == "hello", what="the service's own greeting again")
    assert config.batch_size == 3


async def test_an_invalid_value_is_refused_by_the_cli_and_by_a_running_service(
    settings: BusSettings,
    retained: list[str],  # before services: deleted once they stopped
    services: list[Service],
    unique: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = unique("widget")
    retained.append(name)
    running, config = widget(name, settings)
    services.append(running)
    await running.start()
    await update_config(running.live_config, settings, assign={"batch_size": 5})
    await eventually(lambda: config.batch_size == 5, what="a valid change in force")

    result = await bus_config(settings, name, "set", LOADABLE, "batch_size=0", "greeting=bye")
    assert result.exit_code == 2
    assert "batch_size: Input should be greater than or equal to 1 (got 0)" in result.stderr
    assert "nothing was published" in result.stderr
    assert await read_overrides(settings, name) == {"batch_size": 5}

    # Past the command line, straight onto the wire: the service refuses it as a whole.
    await publish_raw(settings, name, b'{"batch_size": 0, "greeting": "bye"}')
    refused = "batch_size: Input should be greater than or equal to 1 (got 0)"
    await eventually(logged(caplog, logging.ERROR, refused), what="the refusal logged")
    await publish_raw(settings, name, b"{not json")
    await eventually(logged(caplog, logging.ERROR, "holds no JSON"), what="garbage refused")
    assert (config.batch_size, config.greeting) == (5, "hello")

    # A replica that starts now starts with its own settings, and says why.
    later, later_config = widget(name, settings, instance="2")
    services.append(later)
    await later.start()
    assert (later_config.batch_size, later_config.greeting) == (10, "hello")


async def test_a_replica_started_after_a_change_gets_it(
    settings: BusSettings,
    retained: list[str],  # before services: deleted once they stopped
    services: list[Service],
    unique: Callable[[str], str],
) -> None:
    name = unique("widget")
    retained.append(name)
    first, first_config = widget(name, settings)
    services.append(first)
    await first.start()
    await update_config(first.live_config, settings, assign={"batch_size": 7, "pool_size": 4})
    await eventually(lambda: first_config.batch_size == 7, what="the change in the first replica")

    second, second_config = widget(name, settings, instance="2")
    services.append(second)
    await second.start()

    # In force before it started anything, restart-only settings included.
    assert (second_config.batch_size, second_config.pool_size) == (7, 4)
    assert first_config.pool_size == 2


async def test_a_restart_only_setting_waits_for_a_restart_with_a_warning(
    settings: BusSettings,
    retained: list[str],  # before services: deleted once they stopped
    services: list[Service],
    unique: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = unique("widget")
    retained.append(name)
    running, config = widget(name, settings)
    services.append(running)
    opened_with: list[int] = []
    running.on_startup(lambda: _record(opened_with, config.pool_size))
    await running.start()

    await update_config(running.live_config, settings, assign={"pool_size": 4, "batch_size": 2})
    waits = "pool_size=4 (still 2) needs a restart; not applied"
    await eventually(logged(caplog, logging.WARNING, waits), what="the restart warning")
    assert (config.pool_size, config.batch_size) == (2, 2)

    await running.stop()
    await running.start()
    assert config.pool_size == 4
    assert opened_with == [2, 4]


async def _record(into: list[int], value: int) -> None:
    into.append(value)


class Inbox:
    """An SMTP server on a free local port that keeps the recipients of each mail."""

    def __init__(self) -> None:
        self.port = free_port()
        self.recipients: list[str] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        self.recipients += envelope.rcpt_tos
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Records:
    """The catalog and accounts, as the notifier sees them: every document is ready, and
    its owner's address is the owner's name."""

    async def document(self, document_id: uuid.UUID) -> CatalogEntryBase:
        now = datetime.now(UTC)
        return CatalogEntryBase(
            id=document_id, owner=str(document_id), filename="report.pdf", status="ready",
            inspection={"content_type": "application/pdf"}, created_at=now, updated_at=now,
        )  # fmt: skip

    async def email(self, owner: str) -> str | None:
        return ADDRESSES.get(owner)


ADDRESSES: dict[str, str] = {}


def ready(email: str) -> DocumentReady:
    document_id = uuid.uuid4()
    ADDRESSES[str(document_id)] = email
    return DocumentReady(
        document_id=document_id, owner=str(document_id), filename="report.pdf",
        content_type="application/pdf", language="en",
    )  # fmt: skip


async def test_the_notifier_takes_a_new_retry_policy_and_mail_server_live(
    settings: BusSettings,
    retained: list[str],  # before services: deleted once they stopped
    services: list[Service],
    unique: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bus.config")
    name = unique("notifier")
    retained.append(name)
    # Nothing listens on the configured port: every try fails and is retried.
    config = NotifierSettings(
        smtp_host="127.0.0.1", smtp_port=free_port(), timeout=2,
        retry_attempts=2, retry_initial_delay=0.01, retry_max_delay=0.02,
    )  # fmt: skip
    notifier = create_notifier(name, settings, config, owners=Records())
    services.append(notifier)
    await notifier.start()
    assert notifier.retry.attempts == 2

    await update_config(notifier.live_config, settings, assign={"retry_attempts": 4})
    await eventually(lambda: notifier.retry.attempts == 4, what="the new retry policy")
    await eventually(logged(caplog, logging.INFO, "config: applied retry_attempts=4 (was 2)"))
    async with Publisher(settings=settings) as publisher:
        await publisher.publish(ready("a@example.com"))

    async def dead_letter_attempts() -> list[int]:
        letters = await StoredDeadLetter.find(StoredDeadLetter.service == name).to_list()
        return [letter.attempts for letter in letters]

    async def dead_lettered() -> bool:
        return bool(await dead_letter_attempts())

    await eventually(dead_lettered, what="the mail dead-lettered after its tries")
    assert await dead_letter_attempts() == [4]

    inbox = Inbox()
    await asyncio.to_thread(inbox.controller.start)
    try:
        await update_config(notifier.live_config, settings, assign={"smtp_port": inbox.port})
        await eventually(lambda: config.smtp_port == inbox.port, what="the new mail server")
        async with Publisher(settings=settings) as publisher:
            await publisher.publish(ready("b@example.com"))
        await eventually(lambda: inbox.recipients == ["b@example.com"], what="the mail")
    finally:
        await asyncio.to_thread(inbox.controller.stop)


async def test_accounts_gives_new_users_the_default_quota_in_force(
    pg_settings: BusSettings,
    retained: list[str],  # before services: deleted once they stopped
    services: list[Service],
    unique: Callable[[str], str],
) -> None:
    name = unique("accounts")
    retained.append(name)
    config = AccountsSettings()
    accounts = create_accounts(name, pg_settings, config)
    services.append(accounts)
    await accounts.start()

    defaults: dict[str, Any] = {"default_max_documents": 3, "default_max_bytes": 4096}
    await update_config(accounts.live_config, pg_settings, assign=defaults)
    await eventually(lambda: config.default_max_documents == 3, what="the new default quota")

    user = await create_user(pg_settings.postgres_url, f"{name}@example.com", config=config)
    async with AccountsReader(pg_settings.postgres_url, pool_size=1) as reader:
        quota = await reader.quota(user.user_id)
    assert quota is not None
    assert (quota.max_documents, quota.max_bytes) == (3, 4096)
