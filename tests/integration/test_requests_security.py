"""Request/reply under the broker's rules, tried as an intruder would: only a declared
asker sends a query and reads its own replies; only a declared responder answers; nobody
reads someone else's replies; a forged Response Topic gets no reply published there.

Rules and credentials are derived from the test services' declarations (as ``make up``
does), in the test's namespace, in a credentials folder of the test's own.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bus import BusSettings, NoResponderError, RequestNotAllowedError, Service
from bus._internal.mqtt import MQTT_ERRORS, QOS1, Client, connected_client, publish_v5
from bus.constants import REPLIES_TOPIC
from bus.security import DYNSEC_ADMIN, OPS, Credential, CredentialStore
from bus.security.apply import add_outside, apply
from bus.security.dynsec import DynSec
from contracts import QuotaLeft, QuotaLeftReply, QuotaReserved

pytestmark = pytest.mark.timeout(120)

QUERY = QuotaLeft.query.topic
ANSWER = QuotaLeftReply(documents_left=1, bytes_left=2, max_documents=3, max_bytes=4)


@dataclass
class Cast:
    settings: BusSettings
    answerer: Service
    asker: Service
    stranger: Service


def declare(settings: BusSettings, unique: Callable[[str], str]) -> Cast:
    answerer = Service(unique("acc"), settings=settings, produces=[QuotaReserved])

    @answerer.responds(QuotaLeft)
    async def quota_left(query: QuotaLeft) -> QuotaLeftReply:
        return ANSWER

    asker = Service(unique("gw"), settings=settings, asks=[QuotaLeft])
    stranger = Service(unique("str"), settings=settings)
    return Cast(settings, answerer, asker, stranger)


@pytest.fixture
async def cast(
    settings: BusSettings, tmp_path: Path, unique: Callable[[str], str]
) -> AsyncIterator[Cast]:
    """Three services with their own credentials and rules in force; all removed after."""
    home = CredentialStore(settings.credentials_dir)
    folder = tmp_path / "credentials"
    folder.mkdir(mode=0o700)
    for name in (OPS, DYNSEC_ADMIN):
        shutil.copy(settings.credentials_dir / f"{name}.json", folder / f"{name}.json")
    secured = settings.model_copy(update={"credentials_dir": folder})
    cast = declare(secured, unique)
    rules = await apply(secured, [(cast.answerer, 2), (cast.asker, 1), (cast.stranger, 1)])
    yield cast
    for service in (cast.answerer, cast.asker, cast.stranger):
        await service.stop()
    async with connected_client(secured, credential=home.identity(DYNSEC_ADMIN)) as client:
        dynsec = DynSec(client)
        for rule in rules:
            await dynsec.remove(rule.role, rule.client_ids)
        for entry in CredentialStore(folder).outside():
            await dynsec.remove(f"outside:{secured.scoped(entry['name'])}", entry["client_ids"])


def login(settings: BusSettings, service: Service, instance: str = "0") -> Credential:
    password = CredentialStore(settings.credentials_dir).service_password(
        settings.scoped(service.name)
    )
    assert password is not None
    return Credential(settings.client_id(service.name, instance), password)


async def refused(action: Awaitable[object]) -> bool:
    try:
        await action
    except MQTT_ERRORS:
        return True
    return False


async def subscribe(client: Client, topic: str) -> None:
    subscription = client.subscribe(topic, qos=QOS1)
    await subscription.start()
    await subscription.stop()


async def forge(client: Client, topic: str) -> bool:
    return await publish_v5(client, topic, b"{}", content_type="application/json",
                            correlation=b"guess")  # fmt: skip


async def ask(client: Client, topic: str, reply_to: str) -> bool:
    return await publish_v5(client, topic, b'{"user_id": "1"}', content_type="application/json",
                            response_topic=reply_to, correlation=b"x", expiry=5)  # fmt: skip


async def test_only_the_declared_talk_and_nobody_reads_another_ones_replies(cast: Cast) -> None:
    settings, wire = cast.settings, cast.settings.wire_topic
    replies_of = {
        s.name: wire(REPLIES_TOPIC.format(client_id=settings.client_id(s.name, "0")))
        for s in (cast.answerer, cast.asker, cast.stranger)
    }
    answerers_group = f"$share/{cast.answerer.name}/{wire(QUERY)}"
    await cast.answerer.start()
    await cast.asker.start()
    assert await cast.asker.request(QuotaLeft(user_id="1")) == ANSWER  # as itself

    attempts: dict[str, bool] = {}  # what -> refused
    who = {"stranger": cast.stranger, "answerer": cast.answerer, "asker": cast.asker}
    for name, service in who.items():
        me = login(settings, service)
        async with connected_client(settings, credential=me, client_id=me.username) as client:
            mine, asker_replies = replies_of[service.name], replies_of[cast.asker.name]
            attempts[f"{name} sends the query"] = await refused(ask(client, wire(QUERY), mine))
            attempts[f"{name} reads the asker's replies"] = await refused(
                subscribe(client, asker_replies)
            )
            attempts[f"{name} reads every reply"] = await refused(
                subscribe(client, wire(REPLIES_TOPIC.format(client_id="+")))
            )
            attempts[f"{name} reads its own replies"] = await refused(subscribe(client, mine))
            attempts[f"{name} joins the answerer's group"] = await refused(
                subscribe(client, answerers_group)
            )
            attempts[f"{name} answers through its own group"] = await refused(
                subscribe(client, f"$share/{service.name}/{wire(QUERY)}")
            )
            attempts[f"{name} reads the queries plainly"] = await refused(
                subscribe(client, wire(QUERY))
            )
            attempts[f"{name} reads everything"] = await refused(subscribe(client, wire("#")))
            attempts[f"{name} forges a reply"] = await refused(forge(client, asker_replies))

    allowed = {
        "asker sends the query", "asker reads its own replies", "asker reads the asker's replies",
        "answerer joins the answerer's group", "answerer answers through its own group",
        "answerer forges a reply",  # it answers whoever asks: replies are matched by correlation
    }  # fmt: skip
    wrongly_accepted = [what for what, no in attempts.items() if not no and what not in allowed]
    wrongly_refused = [what for what, no in attempts.items() if no and what in allowed]
    assert wrongly_accepted == []
    assert wrongly_refused == []
    assert len(attempts) == 27

    await cast.stranger.start()
    with pytest.raises(RequestNotAllowedError):  # through the bus: its reply topic is refused
        await cast.stranger.request(QuotaLeft(user_id="1"))


async def test_a_service_that_does_not_declare_the_query_cannot_answer_it(cast: Cast) -> None:
    impostor = Service(cast.stranger.name, settings=cast.settings)  # its rules answer nothing

    @impostor.responds(QuotaLeft)
    async def steal(query: QuotaLeft) -> QuotaLeftReply:
        raise AssertionError("the impostor got a query")

    cast.stranger = impostor  # stopped by the fixture
    await impostor.start()  # logs that the broker refused the subscription, and runs on
    await cast.asker.start()
    with pytest.raises(NoResponderError):
        await cast.asker.request(QuotaLeft(user_id="1"))

    await cast.answerer.start()
    assert await cast.asker.request(QuotaLeft(user_id="1")) == ANSWER


async def test_a_forged_response_topic_gets_no_reply(cast: Cast) -> None:
    """The answerer may publish QuotaReserved: a requester naming that topic as its
    Response Topic would make it publish a forged event, if it obeyed."""
    settings, wire = cast.settings, cast.settings.wire_topic
    await cast.answerer.start()
    forged = wire(QuotaReserved.contract.topic)
    client_id = f"{settings.namespace}-ops-observer"
    honest = wire(REPLIES_TOPIC.format(client_id=client_id))
    ops = CredentialStore(settings.credentials_dir).identity(OPS)
    async with (
        connected_client(settings, credential=ops, client_id=client_id) as client,
        client.subscribe(forged, honest, qos=QOS1) as seen,
    ):
        assert await ask(client, wire(QUERY), forged)
        assert await ask(client, wire(QUERY), honest)
        # Both replies would leave the answerer's one connection in this order.
        async with asyncio.timeout(10):
            first = await seen.get_message()
    assert first.topic == honest


async def test_an_outside_team_asks_from_a_plain_mqtt5_client_and_reads_only_its_replies(
    cast: Cast,
) -> None:
    """A team in another language, with its own login (``asks`` in its entry): aiomqtt,
    Response Topic and Correlation Data, no Chorus code."""
    settings, wire = cast.settings, cast.settings.wire_topic
    await cast.answerer.start()
    entry = await add_outside(settings, "partner", produces=[], consumes=[], replicas=1,
                              asks=[QuotaLeft.query.type])  # fmt: skip
    client_id, password = entry["client_ids"][0], entry["password"]
    reply_topic = wire(REPLIES_TOPIC.format(client_id=client_id))
    url = urlsplit(settings.mqtt_url)
    async with aiomqtt.Client(
        url.hostname or "localhost", url.port or 1883, identifier=client_id, username=client_id,
        password=password, protocol=aiomqtt.ProtocolVersion.V5,
    ) as client:  # fmt: skip
        await client.subscribe(reply_topic, qos=0)
        properties: Any = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ResponseTopic = reply_topic
        properties.CorrelationData = b"partner-1"
        properties.ContentType = "application/json"
        await client.publish(wire(QUERY), b'{"user_id": "1"}', qos=1, properties=properties)
        async with asyncio.timeout(10):
            message = await anext(aiter(client.messages))
    props: Any = message.properties
    assert props.CorrelationData == b"partner-1"
    assert QuotaLeftReply.model_validate_json(message.payload) == ANSWER

    partner = Credential(client_id, password)
    asker_replies = wire(REPLIES_TOPIC.format(client_id=settings.client_id(cast.asker.name, "0")))
    async with connected_client(settings, credential=partner, client_id=client_id) as raw:
        assert await refused(subscribe(raw, asker_replies))
        assert await refused(subscribe(raw, wire(REPLIES_TOPIC.format(client_id="+"))))
        assert await refused(subscribe(raw, f"$share/{cast.answerer.name}/{wire(QUERY)}"))
        assert await refused(forge(raw, asker_replies))
        assert not await refused(subscribe(raw, reply_topic))
