"""Handler logic on FastStream's in-memory MQTT broker."""

import pytest

from bus import Envelope, Service
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


@pytest.mark.parametrize(
    "payload",
    [
        b"{oops",
        b'{"hello": "world"}',
        b'{"specversion": "1.0", "id": "1", "source": "/x", "type": "documents.deleted.v1"}',
        b'{"specversion": "1.0", "id": "2", "source": "/x", "type": "documents.uploaded.v1",'
        b' "data": {"owner": "bob"}}',
    ],
)
async def test_poison_is_dropped_and_the_next_event_is_handled(payload: bytes) -> None:
    service, seen = make_relay()
    async with in_memory(service) as bus:
        await bus.publish_raw(payload, "documents/uploaded/v1")
        await bus.publish(uploaded(1, owner="relayed"))
    assert [e.filename for e, _ in seen] == ["file-1.txt"]


async def test_a_failing_handler_does_not_stop_the_service() -> None:
    service = Service("fragile")
    handled: list[str] = []

    @service.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded) -> None:
        if event.filename == "file-1.txt":
            raise RuntimeError("boom")
        handled.append(event.filename)

    async with in_memory(service) as bus:
        await bus.publish(uploaded(1))
        await bus.publish(uploaded(2))
    assert handled == ["file-2.txt"]


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
