"""The broker's TLS listener: services and the command line over mqtts://, verified
against the CA the local stack generated; a client that does not trust it is refused."""

import asyncio
import os
import ssl
from collections.abc import Callable

import pytest
import zmqtt

from bus import BusSettings, Publisher, Service
from bus._internal.broker import make_broker
from contracts import DocumentUploaded
from tests.helpers import bus, eventually, ops_login, uploaded

MQTTS_URL = f"mqtts://localhost:{os.environ.get('MQTTS_PORT', '8883')}"
"""The stack's TLS listener (infra/stack.sh): the server certificate names localhost."""


@pytest.fixture
def over_tls(settings: BusSettings) -> BusSettings:
    """The test's settings on the TLS listener, trusting the generated CA (the default)."""
    tls = settings.model_copy(update={"mqtt_url": MQTTS_URL})
    assert tls.mqtt_ca_file == settings.credentials_dir / "tls" / "ca.crt"
    assert tls.mqtt_ca_file.is_file(), "infra/stack.sh up makes the CA"
    return tls


async def test_a_service_over_tls_receives_what_a_publisher_over_tls_sends(
    over_tls: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    service = Service(unique("indexer"), settings=over_tls)
    seen: list[str] = []

    @service.on(DocumentUploaded)
    async def record(event: DocumentUploaded) -> None:
        seen.append(event.filename)

    services.append(service)
    await service.start()
    async with Publisher(settings=over_tls) as publisher:
        for n in range(3):
            await publisher.publish(uploaded(n))
    await eventually(lambda: len(seen) == 3, what="three events over TLS")
    assert sorted(seen) == ["file-0.txt", "file-1.txt", "file-2.txt"]


async def test_the_command_line_publishes_over_tls(
    over_tls: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    service = Service(unique("indexer"), settings=over_tls)
    seen: list[str] = []

    @service.on(DocumentUploaded)
    async def record(event: DocumentUploaded) -> None:
        seen.append(event.filename)

    services.append(service)
    await service.start()
    data = uploaded(7).model_dump_json()
    # No journal write: in this process Beanie's client is bound to the test's event loop,
    # and the command runs its own (what is tested here is the TLS connection).
    env = {
        "BUS_MQTT_URL": MQTTS_URL,
        "BUS_NAMESPACE": over_tls.namespace,
        "BUS_JOURNAL_FIRST": "false",
    }
    result = await asyncio.to_thread(bus, "publish", "documents.uploaded.v1", data, env=env)
    assert result.exit_code == 0, result.stderr
    await eventually(lambda: seen == ["file-7.txt"], what="the event bus publish sent over TLS")


async def test_a_client_that_does_not_trust_the_ca_is_refused(over_tls: BusSettings) -> None:
    # No CA file: the system's trusted CAs, none of which signed the stack's certificate.
    untrusting = over_tls.model_copy(update={"mqtt_ca_file": None})
    broker = make_broker(untrusting, reconnect=False)
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        await broker.connect()
    await broker.stop()


async def test_the_tls_listener_takes_no_anonymous_client_and_no_wrong_password(
    over_tls: BusSettings,
) -> None:
    assert over_tls.mqtt_ca_file is not None
    trusting = ssl.create_default_context(cafile=over_tls.mqtt_ca_file)
    port = int(MQTTS_URL.rsplit(":", 1)[1])
    ops = ops_login(over_tls)
    for username, password in ((None, None), (ops.username, "wrong")):
        client = zmqtt.MQTTClient(
            "localhost", port, version="5.0", tls=trusting, username=username,
            password=password, reconnect=zmqtt.ReconnectConfig(enabled=False),
        )  # fmt: skip
        with pytest.raises(zmqtt.MQTTConnectError):
            await client.connect()
    # The same CA and the right password: in.
    client = zmqtt.MQTTClient(
        "localhost", port, version="5.0", tls=trusting, username=ops.username,
        password=ops.password, reconnect=zmqtt.ReconnectConfig(enabled=False),
    )  # fmt: skip
    await client.connect()
    await client.disconnect()
