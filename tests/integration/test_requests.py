"""Request/reply over the real broker: answered, timed out, no responder, an error reply,
two replicas answering each query once, a cleanly stopped responder, and a plain MQTT 5
client (aiomqtt) asking with Response Topic and Correlation Data (the wire format)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import pytest
from opentelemetry.trace import StatusCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bus import (
    BusSettings,
    NoResponderError,
    Publisher,
    RequestError,
    RequestFailedError,
    RequestTimeoutError,
    Service,
)
from bus._internal.broker import make_broker
from bus._internal.mqtt import QOS0, connected_client, publish_v5
from bus.constants import REPLIES_TOPIC
from bus.journal import latest
from bus.requests import Requester
from bus.requests.wire import ERROR_CONTENT_TYPE
from contracts import DocumentUploaded, QuotaLeft, QuotaLeftReply
from services.journal import create_service as create_journal
from tests.helpers import bus, eventually, ops_login, uploaded
from tests.spans import Spans

pytestmark = pytest.mark.timeout(60)


def left(documents: int) -> QuotaLeftReply:
    return QuotaLeftReply(documents_left=documents, bytes_left=1000, max_documents=10,
                          max_bytes=2000)  # fmt: skip


async def responder(
    settings: BusSettings, services: list[Service], name: str, instance: str = "1",
    answer: Callable[[QuotaLeft], Any] | None = None,
) -> Service:  # fmt: skip
    service = Service(name, settings=settings.model_copy(update={"instance": instance}))

    @service.responds(QuotaLeft)
    async def quota_left(query: QuotaLeft) -> QuotaLeftReply:
        if answer is not None:
            result = answer(query)
            return await result if asyncio.iscoroutine(result) else result  # type: ignore[no-any-return]
        return left(int(query.user_id))

    services.append(service)
    await service.start()
    return service


async def requester(settings: BusSettings, services: list[Service], name: str) -> Service:
    service = Service(name, settings=settings, asks=[QuotaLeft])
    services.append(service)
    await service.start()
    return service


async def test_a_request_gets_its_typed_reply(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    await responder(settings, services, unique("accounts"))
    asker = await requester(settings, services, unique("gateway"))

    replies = await asyncio.gather(*(asker.request(QuotaLeft(user_id=str(n))) for n in range(20)))

    assert replies == [left(n) for n in range(20)]  # each matched to its own query


async def test_a_slow_responder_ends_in_a_timeout_that_names_the_query(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    async def slow(query: QuotaLeft) -> QuotaLeftReply:
        await asyncio.sleep(3)
        return left(1)

    await responder(settings, services, unique("accounts"), answer=slow)
    asker = await requester(settings, services, unique("gateway"))

    started = time.monotonic()
    expected = r"no reply to accounts\.quota_left\.v1 within 0\.5 s"
    with pytest.raises(RequestTimeoutError, match=expected):
        await asker.request(QuotaLeft(user_id="1"), timeout=0.5)
    assert time.monotonic() - started < 1.5


async def test_no_responder_is_said_at_once(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    asker = await requester(settings, services, unique("gateway"))

    started = time.monotonic()
    with pytest.raises(NoResponderError, match=r"no responder for accounts\.quota_left\.v1"):
        await asker.request(QuotaLeft(user_id="1"), timeout=10)
    assert time.monotonic() - started < 2  # the PUBACK said so, not the timeout


async def test_a_cleanly_stopped_responder_leaves_no_responder(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    answering = await responder(settings, services, unique("accounts"))
    asker = await requester(settings, services, unique("gateway"))
    assert await asker.request(QuotaLeft(user_id="2")) == left(2)

    await answering.stop()

    with pytest.raises(NoResponderError):
        await asker.request(QuotaLeft(user_id="2"), timeout=10)


async def test_an_answer_that_raises_is_an_error_reply_and_the_responder_goes_on(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    def picky(query: QuotaLeft) -> QuotaLeftReply:
        if query.user_id == "13":
            raise LookupError("no user '13'")
        return left(int(query.user_id))

    await responder(settings, services, unique("accounts"), answer=picky)
    asker = await requester(settings, services, unique("gateway"))

    with pytest.raises(RequestFailedError) as failed:
        await asker.request(QuotaLeft(user_id="13"))
    assert failed.value.code == "failed"
    assert failed.value.detail == "LookupError: no user '13'"
    assert str(failed.value) == "accounts.quota_left.v1 failed (failed): LookupError: no user '13'"
    assert await asker.request(QuotaLeft(user_id="3")) == left(3)


async def test_two_responder_replicas_answer_each_query_once(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    name = unique("accounts")
    answered: Counter[str] = Counter()
    by_replica: Counter[str] = Counter()
    for instance in ("1", "2"):

        def count(query: QuotaLeft, instance: str = instance) -> QuotaLeftReply:
            answered[query.user_id] += 1
            by_replica[instance] += 1
            return left(int(query.user_id))

        await responder(settings, services, name, instance, answer=count)
    asker = await requester(settings, services, unique("gateway"))

    replies = await asyncio.gather(*(asker.request(QuotaLeft(user_id=str(n))) for n in range(40)))

    assert replies == [left(n) for n in range(40)]
    assert set(answered.values()) == {1}
    assert len(answered) == 40
    assert sum(by_replica.values()) == 40
    assert len(by_replica) == 2, by_replica  # both took some


async def test_a_plain_mqtt5_client_asks_with_response_topic_and_correlation_data(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    """What a team in another language does: no Chorus code on the requesting side."""
    await responder(settings, services, unique("accounts"))
    url, login = urlsplit(settings.mqtt_url), ops_login(settings)
    client_id = f"partner-{uuid.uuid4().hex[:8]}"
    reply_topic = settings.wire_topic(REPLIES_TOPIC.format(client_id=client_id))
    query_topic = settings.wire_topic("queries/accounts/quota_left/v1")

    async with aiomqtt.Client(
        url.hostname or "localhost", url.port or 1883, identifier=client_id,
        username=login.username, password=login.password,
        protocol=aiomqtt.ProtocolVersion.V5,
    ) as client:  # fmt: skip
        await client.subscribe(reply_topic, qos=1)
        answers = {}
        for user_id, correlation in (("7", b"\x00\x01binary-ok"), ("not-a-number", b"second")):
            properties: Any = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.ResponseTopic = reply_topic
            properties.CorrelationData = correlation
            properties.ContentType = "application/json"
            properties.MessageExpiryInterval = 5
            payload = json.dumps({"user_id": user_id})
            await client.publish(query_topic, payload, qos=1, properties=properties)
            async with asyncio.timeout(5):
                async for message in client.messages:
                    props: Any = message.properties
                    body = json.loads(message.payload)
                    answers[props.CorrelationData] = (props.ContentType, body)
                    break

    assert answers[b"\x00\x01binary-ok"] == ("application/json", left(7).model_dump())
    content_type, error = answers[b"second"]
    assert content_type == ERROR_CONTENT_TYPE
    assert error["error"] == "failed"
    assert "ValueError" in error["detail"]


async def test_an_invalid_query_gets_an_invalid_query_reply(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    await responder(settings, services, unique("accounts"))
    url, login = urlsplit(settings.mqtt_url), ops_login(settings)
    client_id = f"partner-{uuid.uuid4().hex[:8]}"
    reply_topic = settings.wire_topic(REPLIES_TOPIC.format(client_id=client_id))
    async with aiomqtt.Client(
        url.hostname or "localhost", url.port or 1883, identifier=client_id,
        username=login.username, password=login.password, protocol=aiomqtt.ProtocolVersion.V5,
    ) as client:  # fmt: skip
        await client.subscribe(reply_topic, qos=1)
        properties: Any = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ResponseTopic = reply_topic
        properties.CorrelationData = b"c"
        await client.publish(settings.wire_topic("queries/accounts/quota_left/v1"),
                             b'{"user": 1}', qos=1, properties=properties)  # fmt: skip
        async with asyncio.timeout(5):
            message = await anext(aiter(client.messages))
    body = json.loads(message.payload)
    assert body["error"] == "invalid_query"
    assert "user_id: Field required" in body["detail"]


async def test_bus_request_prints_the_reply_or_says_why_not(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    env = {"BUS_NAMESPACE": settings.namespace}
    nobody = await asyncio.to_thread(bus, "request", "accounts.quota_left.v1", '{"user_id": "4"}',
                                     env=env)  # fmt: skip
    assert nobody.exit_code == 1
    assert "no responder for accounts.quota_left.v1" in nobody.stderr

    def picky(query: QuotaLeft) -> QuotaLeftReply:
        if query.user_id == "13":
            raise LookupError("no user '13'")
        return left(int(query.user_id))

    await responder(settings, services, unique("accounts"), answer=picky)
    answered = await asyncio.to_thread(
        bus, "request", "queries/accounts/quota_left/v1", '{"user_id": "4"}', env=env
    )
    assert answered.exit_code == 0, answered.stderr
    assert json.loads(answered.stdout) == left(4).model_dump()
    failed = await asyncio.to_thread(
        bus, "request", "accounts.quota_left.v1", '{"user_id": "13"}', env=env
    )
    assert failed.exit_code == 1
    assert "failed (failed): LookupError: no user '13'" in " ".join(failed.stderr.split())


async def test_a_dead_responders_session_takes_the_query_which_expires_unanswered(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    """A killed replica keeps its session and subscription: the broker takes the query
    (no 0x10), the requester times out, and the query expires instead of being answered
    late when the replica comes back."""
    name = unique("accounts")
    group = f"$share/{name}/{settings.wire_topic(QuotaLeft.query.topic)}"
    client_id = settings.client_id(name, "9")
    dead = make_broker(settings, client_id=client_id, persistent=True, reconnect=False)
    await (await dead.connect()).subscribe(group, qos=QOS0).start()  # as a responder does
    await dead.stop()  # gone without unsubscribing, as a killed process
    asker = await requester(settings, services, unique("gateway"))

    with pytest.raises(RequestTimeoutError):
        await asker.request(QuotaLeft(user_id="1"), timeout=1.0)
    await asyncio.sleep(1.1)  # the broker's clock passes the query's expiry (1 s, whole seconds)

    back = make_broker(settings, client_id=client_id, persistent=True, reconnect=False)
    try:
        client = await back.connect()
        async with client.subscribe(group, qos=QOS0) as resumed:
            async with connected_client(settings) as ops:  # a query that does not expire
                topic, marker = settings.wire_topic(QuotaLeft.query.topic), b'{"user_id": "marker"}'
                await publish_v5(ops, topic, marker, content_type="application/json")
            async with asyncio.timeout(10):
                first = await resumed.get_message()
    finally:
        await back.stop()
    assert json.loads(first.payload) == {"user_id": "marker"}  # the expired query never came
    # Forget the session (a clean start with no expiry).
    gone = make_broker(settings, client_id=client_id, reconnect=False)
    await gone.connect()
    await gone.stop()


async def test_queries_and_replies_are_not_journaled(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    journal = create_journal(settings=settings)
    services.append(journal)
    await journal.start()
    await responder(settings, services, unique("accounts"))
    asker = await requester(settings, services, unique("gateway"))
    assert await asker.request(QuotaLeft(user_id="5")) == left(5)

    plain = settings.model_copy(update={"journal_first": False})  # only the journal service writes
    async with Publisher(settings=plain) as publisher:
        sent = await publisher.publish(uploaded(1))

    async def journaled() -> bool:
        return any(e.id == sent.id for e in await latest(limit=50))

    await eventually(journaled, what="the event after the request to be journaled")
    assert [e.type for e in await latest(limit=50)] == [DocumentUploaded.contract.type]


async def test_a_request_and_its_answer_are_one_trace(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str], spans: Spans
) -> None:
    def picky(query: QuotaLeft) -> QuotaLeftReply:
        if query.user_id == "13":
            raise LookupError("no user '13'")
        return left(int(query.user_id))

    answering = await responder(settings, services, unique("accounts"), answer=picky)
    asker = await requester(settings, services, unique("gateway"))
    await asker.request(QuotaLeft(user_id="1"))
    with pytest.raises(RequestFailedError):
        await asker.request(QuotaLeft(user_id="13"))

    async def both_answered() -> bool:
        return len([s for s in spans.all() if s.name.startswith("answer ")]) == 2

    await eventually(both_answered, what="two answer spans")
    requests = [s for s in spans.all() if s.name == "request accounts.quota_left.v1"]
    answers = [s for s in spans.all() if s.name == "answer accounts.quota_left.v1"]
    assert [Spans.service(s) for s in requests] == [asker.name, asker.name]
    assert [Spans.service(s) for s in answers] == [answering.name, answering.name]
    for request, answer in zip(requests, answers, strict=True):
        assert request.context is not None
        assert answer.parent is not None
        assert answer.parent.span_id == request.context.span_id  # one trace, answer under request
        assert answer.context is not None
        assert answer.context.trace_id == request.context.trace_id
    assert [s.status.status_code for s in answers] == [StatusCode.UNSET, StatusCode.ERROR]
    assert [s.status.status_code for s in requests] == [StatusCode.UNSET, StatusCode.ERROR]


async def test_a_request_on_a_closed_connection_says_so(settings: BusSettings) -> None:
    async with connected_client(settings, client_id=f"closed-{uuid.uuid4().hex[:8]}") as client:
        pass
    requester = Requester(settings, "closed-1")
    with pytest.raises(RequestError, match=r"cannot read replies on .*chorus/replies/closed-1"):
        await requester.request(client, QuotaLeft(user_id="1"))


async def test_a_reply_does_not_wait_behind_the_requesters_backlog_of_events(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    """The asker holds 300 unacknowledged events (its handler is stuck): more than the
    broker's in-flight window (max_inflight_messages 100). Its reply still comes."""
    await responder(settings, services, unique("accounts"))
    asker = Service(unique("gateway"), settings=settings, asks=[QuotaLeft])
    release = asyncio.Event()
    taken: list[str] = []

    @asker.on(DocumentUploaded)
    async def stuck(event: DocumentUploaded) -> None:
        taken.append(event.filename)
        await release.wait()

    services.append(asker)
    await asker.start()
    plain = settings.model_copy(update={"journal_first": False})
    async with Publisher(settings=plain) as publisher:
        for n in range(300):
            await publisher.publish(uploaded(n))
    await eventually(lambda: len(taken) >= 1, what="the handler to be stuck on the first events")
    try:
        assert await asker.request(QuotaLeft(user_id="6"), timeout=5) == left(6)
    finally:
        release.set()


async def test_a_query_does_not_wait_behind_the_responders_backlog_of_events(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    """The responder holds 300 unacknowledged events (its handler is stuck). It answers."""
    answering = Service(unique("accounts"), settings=settings)
    release = asyncio.Event()
    taken: list[str] = []

    @answering.on(DocumentUploaded)
    async def stuck(event: DocumentUploaded) -> None:
        taken.append(event.filename)
        await release.wait()

    @answering.responds(QuotaLeft)
    async def quota_left(query: QuotaLeft) -> QuotaLeftReply:
        return left(int(query.user_id))

    services.append(answering)
    await answering.start()
    asker = await requester(settings, services, unique("gateway"))
    plain = settings.model_copy(update={"journal_first": False})
    async with Publisher(settings=plain) as publisher:
        for n in range(300):
            await publisher.publish(uploaded(n))
    await eventually(lambda: len(taken) >= 1, what="the handler to be stuck on the first events")
    try:
        assert await asker.request(QuotaLeft(user_id="8"), timeout=5) == left(8)
    finally:
        release.set()
