"""Handler logic on FastStream's in-memory MQTT broker."""

import pytest

from bus import Envelope, RetryPolicy, Service
from bus.testing import in_memory
from contracts import DocumentUploaded
from tests.helpers import uploaded


def make_relay() -> tuple[Service, list[tuple[DocumentUploaded, Envelope]]]:
    """A service that records what it handles and republishes each event once."""
    service = Service("relay")
    seen: list[tuple[DocumentUploaded, Envelope]] = []

    @service.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded, envelope: Envelope) -> None:
        seen.append((event, envelope))
        if event.owner != "relayed":
            await service.publish(event.model_copy(update={"owner": "relayed"}))

    return service, seen


async def test_a_handler_gets_the_typed_event_and_its_envelope() -> None:
    service, seen = make_relay()
    async with in_memory(service) as bus:
        sent = await bus.publish(uploaded(7))
    event, envelope = seen[0]
    assert isinstance(event, DocumentUploaded)
    assert event.filename == "file-7.txt"
    assert envelope.id == sent.id


async def test_what_a_handler_publishes_carries_correlation_and_causation() -> None:
    service, _ = make_relay()
    async with in_memory(service) as bus:
        sent = await bus.publish(uploaded())
    [relayed] = bus.of_type(DocumentUploaded)
    assert relayed.source == "/relay/1"
    assert relayed.causationid == sent.id
    assert relayed.correlationid == sent.correlationid == sent.id


FAST = RetryPolicy(attempts=4, initial_delay=0.001, max_delay=0.002)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{oops", "not valid JSON"),
        (b'{"hello": "world"}', "not a CloudEvent"),
        (
            b'{"specversion": "1.0", "id": "1", "source": "/x", "type": "documents.deleted.v1"}',
            "arrived on the topic of 'documents.uploaded.v1'",
        ),
        (
            b'{"specversion": "1.0", "id": "2", "source": "/x", "type": "documents.uploaded.v1",'
            b' "data": {"owner": "bob"}}',
            "documents.uploaded.v1 data fails its contract: document_id: Field required",
        ),
    ],
)
async def test_poison_is_dead_lettered_at_once_and_the_next_event_is_handled(
    payload: bytes, reason: str
) -> None:
    service, seen = make_relay()
    async with in_memory(service) as bus:
        await bus.publish_raw(payload, "documents/uploaded/v1")
        await bus.publish(uploaded(1, owner="relayed"))
    assert [e.filename for e, _ in seen] == ["file-1.txt"]
    [letter] = bus.dead_letters.letters.values()
    assert letter.kind == "poison"
    assert reason in letter.reason
    assert letter.attempts == 1
    assert letter.payload == payload.decode(errors="replace")
    assert letter.service == "relay"
    assert letter.topic == "documents/uploaded/v1"


async def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered() -> None:
    service = Service("fragile", retry=FAST)
    handled: list[str] = []
    calls: list[str] = []

    @service.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded) -> None:
        calls.append(event.filename)
        if event.filename == "file-1.txt":
            raise ConnectionResetError("the index is down")
        handled.append(event.filename)

    async with in_memory(service) as bus:
        sent = await bus.publish(uploaded(1))
        await bus.publish(uploaded(2))
    assert handled == ["file-2.txt"]
    assert calls.count("file-1.txt") == 4
    [letter] = bus.dead_letters.letters.values()
    assert letter.kind == "failed"
    assert letter.attempts == 4
    assert letter.event_id == sent.id
    assert letter.envelope is not None
    assert letter.envelope["data"]["filename"] == "file-1.txt"
    assert letter.error_type == "builtins.ConnectionResetError"
    assert letter.error_message == "the index is down"
    assert letter.traceback is not None
    assert "the index is down" in letter.traceback


async def test_a_transient_failure_is_retried_until_it_succeeds() -> None:
    service = Service("flaky", retry=FAST)
    calls: list[int] = []

    @service.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded) -> None:
        calls.append(1)
        if len(calls) < 3:
            raise TimeoutError("slow store")

    async with in_memory(service) as bus:
        await bus.publish(uploaded())
    assert len(calls) == 3
    assert bus.dead_letters.letters == {}


async def test_errors_not_worth_retrying_are_dead_lettered_on_the_first_attempt() -> None:
    service = Service("picky")
    calls: list[int] = []

    @service.on(DocumentUploaded, retry=RetryPolicy(attempts=5, give_up_on=(KeyError,)))
    async def on_uploaded(event: DocumentUploaded) -> None:
        calls.append(1)
        raise KeyError("no such owner")

    async with in_memory(service) as bus:
        await bus.publish(uploaded())
    assert len(calls) == 1
    [letter] = bus.dead_letters.letters.values()
    assert letter.attempts == 1
    assert letter.error_type == "builtins.KeyError"


async def test_handlers_stay_plain_functions() -> None:
    service, seen = make_relay()
    handler = service.handlers[0]
    envelope = Envelope.wrap(uploaded(), source="/test/1")
    await handler.func(uploaded(3, owner="relayed"), envelope=envelope)
    assert seen[0][0].filename == "file-3.txt"


def test_declaration_mistakes_fail_early() -> None:
    service = Service("strict")

    async def first(event: DocumentUploaded) -> None: ...

    service.on(DocumentUploaded)(first)
    with pytest.raises(ValueError, match="already has a handler"):
        service.on(DocumentUploaded)(first)

    def not_async(event: DocumentUploaded) -> None: ...

    with pytest.raises(TypeError, match="async"):
        Service("other").on(DocumentUploaded)(not_async)  # type: ignore[type-var]
    with pytest.raises(ValueError, match="plain word"):
        Service("a/b")
