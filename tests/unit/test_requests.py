"""Request/reply without a broker: the query contracts, the wire format, an answer's
replies (good, raising, invalid either way), the reply-topic guard, the broker rules
derived from asks= and @service.responds, the in-memory answer and ``bus request``."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from bus import BusNotStartedError, BusSettings, RequestFailedError, Service
from bus.requests import NoResponderError, RequestTimeoutError, wire
from bus.requests.responder import Answer, Responder
from bus.requests.testing import answer
from bus.security import service_rules
from bus.tools.cli import app
from contracts import Query, QuotaLeft, QuotaLeftReply, Reply, query_by_name

REPLY = QuotaLeftReply(documents_left=1, bytes_left=2, max_documents=3, max_bytes=4)


def test_a_query_names_its_topic_type_and_reply() -> None:
    assert QuotaLeft.query.topic == "queries/accounts/quota_left/v1"
    assert QuotaLeft.query.type == "accounts.quota_left.v1"
    assert QuotaLeft.reply_type is QuotaLeftReply
    assert query_by_name("accounts.quota_left.v1") is QuotaLeft
    assert query_by_name("queries/accounts/quota_left/v1") is QuotaLeft


def test_a_query_without_its_reply_or_with_a_bad_name_is_refused() -> None:
    with pytest.raises(TypeError, match="must name its reply"):

        class Unbound(Query):  # type: ignore[type-arg]
            query_name: ClassVar[str] = "tests.unbound"

    with pytest.raises(ValueError, match=r"'<domain>\.<query>' in lower case"):

        class Badly(Query[QuotaLeftReply]):
            query_name: ClassVar[str] = "Tests/Badly"

    with pytest.raises(ValueError, match="claimed by both"):

        class Twice(Query[QuotaLeftReply]):
            query_name: ClassVar[str] = "accounts.quota_left"


def test_an_error_reply_and_a_reply_off_contract_raise_request_failed() -> None:
    payload, content_type = wire.encode_error("failed", "LookupError: no user 'x'")
    assert content_type == "application/vnd.chorus.error+json"
    assert json.loads(payload) == {"error": "failed", "detail": "LookupError: no user 'x'"}
    with pytest.raises(RequestFailedError) as failed:
        wire.decode_reply(QuotaLeft, payload, content_type)
    assert (failed.value.code, failed.value.detail) == ("failed", "LookupError: no user 'x'")
    assert failed.value.query_type == "accounts.quota_left.v1"

    with pytest.raises(RequestFailedError, match=r"invalid_reply.*documents_left: Field required"):
        wire.decode_reply(QuotaLeft, b'{"bytes_left": 1}', "application/json")
    with pytest.raises(RequestFailedError, match="unreadable error reply"):
        wire.decode_reply(QuotaLeft, b"not json", wire.ERROR_CONTENT_TYPE)
    assert wire.decode_reply(QuotaLeft, *wire.encode_reply(REPLY)) == REPLY


def test_the_expiry_is_the_timeout_rounded_up() -> None:
    assert [wire.expiry(t) for t in (0.1, 1.0, 2.5)] == [1, 1, 3]


def test_a_timeout_names_the_query_and_the_wait() -> None:
    error = RequestTimeoutError("accounts.quota_left.v1", 0.5)
    assert str(error) == "no reply to accounts.quota_left.v1 within 0.5 s"
    assert isinstance(error, TimeoutError)


async def test_an_answer_replies_or_says_what_went_wrong() -> None:
    calls: list[str] = []

    async def quota_left(query: QuotaLeft) -> Any:
        calls.append(query.user_id)
        if query.user_id == "boom":
            raise LookupError("no user 'boom'")
        if query.user_id == "wrong":
            return {"documents_left": 1}
        return REPLY

    replying = Answer.build(quota_left, QuotaLeft)
    assert await replying.respond(b'{"user_id": "1"}') == wire.encode_reply(REPLY)
    assert await replying.respond(b'{"user_id": "boom"}') == wire.encode_error(
        "failed", "LookupError: no user 'boom'"
    )
    payload, _ = await replying.respond(b'{"user_id": "wrong"}')
    assert json.loads(payload) == {
        "error": "invalid_reply", "detail": "the answer returned dict, not QuotaLeftReply",
    }  # fmt: skip
    payload, _ = await replying.respond(b"{not json")
    assert json.loads(payload)["error"] == "invalid_query"
    payload, _ = await replying.respond(b'{"user_id": ""}')
    assert json.loads(payload)["error"] == "invalid_query"
    assert calls == ["1", "boom", "wrong"]  # invalid queries never reach the answer


def test_an_answer_must_be_async() -> None:
    def sync(query: QuotaLeft) -> QuotaLeftReply:
        return REPLY

    with pytest.raises(TypeError, match="must be an async function"):
        Answer.build(sync, QuotaLeft)  # type: ignore[arg-type]


def test_a_responder_replies_only_inside_the_reply_space() -> None:
    responder = Responder("accounts", [], BusSettings(namespace="blue"), client=None)  # type: ignore[arg-type]
    allowed = ["blue/chorus/replies/gateway-1", "blue/chorus/replies/x"]
    refused = [
        None, "", "blue/chorus/replies/", "blue/chorus/replies/a/b", "blue/chorus/replies/+",
        "chorus/replies/gateway-1", "blue/accounts/quota_reserved/v1", "blue/chorus/replay/x",
        "other/chorus/replies/x",
    ]  # fmt: skip
    assert [responder._may_reply_to(t) for t in allowed] == [True, True]
    assert [t for t in refused if responder._may_reply_to(t)] == []


def test_the_broker_rules_follow_asks_and_responds() -> None:
    settings = BusSettings(namespace="blue")
    answering = Service("accounts", settings=settings)

    @answering.responds(QuotaLeft)
    async def quota_left(query: QuotaLeft) -> QuotaLeftReply:
        return REPLY

    asking = Service("gateway", settings=settings, asks=[QuotaLeft])
    neither = Service("notifier", settings=settings)

    answerer, asker, other = (service_rules(s, settings) for s in (answering, asking, neither))
    assert "$share/accounts/blue/queries/accounts/quota_left/v1" in answerer.subscribes
    assert "blue/chorus/replies/+" in answerer.publishes
    assert "blue/queries/accounts/quota_left/v1" not in answerer.publishes
    assert not any("replies" in t for t in answerer.subscribes)

    assert "blue/queries/accounts/quota_left/v1" in asker.publishes
    replies = [t for t in asker.subscribes if "replies" in t]
    assert replies == [f"blue/chorus/replies/{c}" for c in asker.client_ids]
    received = {a.topic for a in asker.acls if a.acltype == "publishClientReceive" and a.allow}
    assert set(replies) <= received
    assert not any("queries" in t for t in asker.subscribes)

    assert not any("queries" in t or "replies" in t for t in [*other.publishes, *other.subscribes])


async def test_a_service_declares_what_it_answers_and_asks_and_asks_only_once_started() -> None:
    service = Service("accounts", asks=[QuotaLeft])

    @service.responds(QuotaLeft)
    async def quota_left(query: QuotaLeft) -> QuotaLeftReply:
        return REPLY

    assert service.answers == [QuotaLeft]
    assert service.asks == [QuotaLeft]
    with pytest.raises(ValueError, match=r"already answers accounts\.quota_left\.v1"):
        service.responds(QuotaLeft)(quota_left)
    with pytest.raises(BusNotStartedError):
        await service.request(QuotaLeft(user_id="1"))


async def test_answers_in_memory_go_through_the_wire_format() -> None:
    service = Service("accounts")

    @service.responds(QuotaLeft)
    async def quota_left(query: QuotaLeft) -> QuotaLeftReply:
        if query.user_id == "nobody":
            raise LookupError("no account for user 'nobody'")
        return REPLY

    assert await answer(service, QuotaLeft(user_id="1")) == REPLY
    with pytest.raises(RequestFailedError, match="LookupError: no account for user 'nobody'"):
        await answer(service, QuotaLeft(user_id="nobody"))
    with pytest.raises(NoResponderError):
        await answer(Service("catalog"), QuotaLeft(user_id="1"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.v1", "{}"], "unknown query 'nope.v1'; known queries: accounts.quota_left.v1"),
        (["accounts.quota_left.v1", "{bad"], "DATA is not valid JSON"),
        (["accounts.quota_left.v1", '{"user": 1}'], "user_id: Field required"),
        (["accounts.quota_left.v1", "@/nonexistent.json"], "cannot read /nonexistent.json"),
    ],
)
def test_bus_request_says_what_is_wrong_with_its_arguments(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["request", *args])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())


def test_reply_is_a_plain_model() -> None:
    assert issubclass(QuotaLeftReply, Reply)
