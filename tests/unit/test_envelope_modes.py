"""Both CloudEvents content modes on MQTT (the binding's rules), and what a replica does
with each: the same checks, dead letters that keep the MQTT properties, replays."""

from __future__ import annotations

import json

import pytest

from bus import BusSettings, Service
from bus._internal.broker import send
from bus.constants import REPLAY_TOPIC
from bus.deadletters import DeadLetter, MemoryDeadLetters, ReplayRequest
from bus.deadletters.models import UserProperty
from bus.deadletters.storable import as_text, minimal
from bus.envelope import CLOUDEVENTS_CONTENT_TYPE, Envelope, EnvelopeError, WireMessage
from bus.errors import PoisonMessageError
from bus.runtime import Delivery, Outcome, Pipeline, Via
from bus.testing import in_memory
from contracts import DocumentUploaded
from tests.helpers import uploaded
from tests.unit.test_pipeline import FAST, OWNER, TOPIC, MemoryDeduplicator, Recorder

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def traced_envelope() -> Envelope:
    """An envelope carrying every extension the bus uses, and one of a producer's own."""
    first = Envelope.wrap(uploaded(1), source="/gateway/1")
    return Envelope.wrap(
        uploaded(2), source="/indexer/1", cause=first,
        trace={"traceparent": TRACEPARENT, "tracestate": "vendor=1"},
    ).model_copy(update={"tenant": "acme", "subject": "file-2.txt"})  # fmt: skip


def binary_message(**overrides: str | None) -> WireMessage:
    """A binary-mode DocumentUploaded as an outside MQTT 5 client sends it; an override
    of None leaves that attribute out."""
    attributes: dict[str, str | None] = {
        "specversion": "1.0", "id": "outside-1", "source": "/partner/1",
        "type": "documents.uploaded.v1", "time": "2026-04-05T03:56:24Z",
    }  # fmt: skip
    attributes.update(overrides)
    properties = tuple((k, v) for k, v in attributes.items() if v is not None)
    data = uploaded(7).model_dump_json().encode()
    return WireMessage(data, "application/json", properties)


# -- the two modes, both ways ---------------------------------------------------------


@pytest.mark.parametrize("binary", [False, True], ids=["structured", "binary"])
def test_every_attribute_and_extension_round_trips(binary: bool) -> None:
    envelope = traced_envelope()
    message = envelope.to_message(binary=binary)
    assert message.binary is binary
    assert Envelope.from_message(message) == envelope
    received = Envelope.from_message(message)
    assert (received.correlationid, received.causationid) == (
        envelope.correlationid, envelope.causationid,
    )  # fmt: skip
    assert received.traceparent == TRACEPARENT
    assert received.tracestate == "vendor=1"
    assert received.extensions() == {"tenant": "acme"}


def test_binary_mode_puts_data_in_the_payload_and_each_attribute_in_a_user_property() -> None:
    envelope = traced_envelope()
    message = envelope.to_message(binary=True)
    assert message.content_type == "application/json"  # the datacontenttype
    assert json.loads(message.payload) == envelope.data
    properties = dict(message.properties)
    assert len(properties) == len(message.properties), "one user property per attribute"
    assert properties == {
        "specversion": "1.0",
        "id": envelope.id,
        "source": "/indexer/1",
        "type": "documents.uploaded.v1",
        "time": envelope.time.isoformat().replace("+00:00", "Z"),
        "subject": "file-2.txt",
        "correlationid": envelope.correlationid,
        "causationid": envelope.causationid,
        "traceparent": TRACEPARENT,
        "tracestate": "vendor=1",
        "tenant": "acme",
    }
    assert "data" not in properties
    assert "datacontenttype" not in properties  # it is the content type


def test_structured_mode_is_the_whole_document_with_the_cloudevents_content_type() -> None:
    envelope = traced_envelope()
    message = envelope.to_message()
    assert message == WireMessage(envelope.to_bytes(), CLOUDEVENTS_CONTENT_TYPE)
    assert json.loads(message.payload)["tenant"] == "acme"


def test_extension_values_travel_as_their_canonical_strings() -> None:
    envelope = Envelope.wrap(uploaded(), source="/s/1").model_copy(
        update={"priority": 5, "urgent": True}
    )
    properties = dict(envelope.to_message(binary=True).properties)
    assert (properties["priority"], properties["urgent"]) == ("5", "true")


def test_an_event_without_data_has_an_empty_binary_payload() -> None:
    envelope = Envelope(source="/s/1", type="documents.purged.v1")
    message = envelope.to_message(binary=True)
    assert message.payload == b""
    assert Envelope.from_message(message) == envelope


@pytest.mark.parametrize(
    ("content_type", "properties", "binary"),
    [
        (CLOUDEVENTS_CONTENT_TYPE, (), False),
        ("application/cloudevents+json; charset=utf-8", (("specversion", "1.0"),), False),
        (None, (), False),  # MQTT 3.1.1, or an MQTT 5 sender that set no content type
        (None, (("specversion", "1.0"),), True),
        ("application/json", (), True),
        ("text/plain", (), True),
    ],
)
def test_the_mqtt_content_type_chooses_the_mode(
    content_type: str | None, properties: tuple[tuple[str, str], ...], binary: bool
) -> None:
    assert WireMessage(b"", content_type, properties).binary is binary


def test_a_structured_event_may_carry_user_properties_too() -> None:
    envelope = traced_envelope()
    message = WireMessage(envelope.to_bytes(), CLOUDEVENTS_CONTENT_TYPE, (("id", "other"),))
    assert Envelope.from_message(message) == envelope


def test_mqtt_311_and_bare_payloads_are_structured() -> None:
    envelope = traced_envelope()
    assert Envelope.from_message(WireMessage(envelope.to_bytes())) == envelope


def test_user_properties_that_are_not_attribute_names_are_not_attributes() -> None:
    message = binary_message()
    message = WireMessage(message.payload, message.content_type,
                          (*message.properties, ("X-Sender", "tool 1.2")))  # fmt: skip
    assert Envelope.from_message(message).extensions() == {}


def test_binary_mode_without_a_content_type_defaults_to_json_data() -> None:
    message = binary_message()
    envelope = Envelope.from_message(WireMessage(message.payload, None, message.properties))
    assert envelope.datacontenttype == "application/json"
    assert envelope.data["filename"] == "file-7.txt"


# -- bad input: the same checks in both modes, a reason in each -----------------------


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (binary_message(source=None), "binary mode.*source: Field required"),
        (binary_message(specversion=None), "missing specversion"),
        (binary_message(id=None), "missing id"),
        (binary_message(specversion="0.3"), "unsupported CloudEvents specversion '0.3'"),
        (binary_message(time="yesterday"), "binary mode.*time"),
        (binary_message(source=""), "binary mode.*source"),
        (binary_message(data='{"a": 1}'), "'data' is a user property"),
        (binary_message(datacontenttype="text/json"), "differs from the MQTT content type"),
        (
            WireMessage(b"{oops", "application/json", binary_message().properties),
            "the payload \\(the data\\) is not valid JSON",
        ),
        (
            WireMessage(b"hello", "text/plain", binary_message().properties),
            "unsupported datacontenttype 'text/plain'",
        ),
        (
            WireMessage(traced_envelope().to_bytes(), "application/json"),
            "means binary mode, but no CloudEvents attribute came as an MQTT user property",
        ),
        (
            WireMessage(traced_envelope().to_bytes(), "application/cloudevents+avro"),
            "unsupported CloudEvents event format",
        ),
        (
            WireMessage(b"", "application/json",
                        (*binary_message().properties, ("id", "again"))),
            "the user property 'id' is given twice",
        ),
    ],
    ids=[
        "no-source", "no-specversion", "no-id", "old-specversion", "bad-time", "empty-source",
        "data-as-property", "two-content-types", "bad-json-data", "not-json", "structured-json-"
        "with-binary-content-type", "unknown-format", "attribute-twice",
    ],
)  # fmt: skip
def test_a_bad_binary_event_gets_a_readable_reason(message: WireMessage, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        Envelope.from_message(message)


# -- correlation: an outside first event starts its own chain ----------------------


def test_an_event_without_a_correlationid_is_its_own_chain() -> None:
    outside = Envelope.from_message(binary_message())
    assert outside.correlationid is None
    assert outside.correlation == "outside-1"
    caused = Envelope.wrap(uploaded(8), source="/indexer/1", cause=outside)
    assert (caused.correlationid, caused.causationid) == ("outside-1", "outside-1")


# -- in a replica's pipeline ------------------------------------------------------------


class OnlyFrom:
    """A SourceCheck that trusts one source."""

    def __init__(self, source: str) -> None:
        self.source = source

    def check(self, envelope: Envelope) -> str | None:
        return None if envelope.source == self.source else f"{envelope.source} is no producer"


def pipeline(
    *, trusted: str = "/partner/1"
) -> tuple[Pipeline, MemoryDeduplicator, MemoryDeadLetters]:
    dedup, dead_letters = MemoryDeduplicator(), MemoryDeadLetters()
    return Pipeline(
        service="reader", owner=OWNER, retry=lambda: FAST, dead_letters=dead_letters,
        dedup=dedup, sources=OnlyFrom(trusted),
    ), dedup, dead_letters  # fmt: skip


def delivery(recorder: Recorder, message: WireMessage) -> Delivery:
    """``message`` as it comes from the broker."""
    return Delivery(recorder.handler, TOPIC, message.payload, content_type=message.content_type,
                    properties=message.properties)  # fmt: skip


async def test_a_binary_event_is_handled_and_deduplicated_by_id_like_a_structured_one() -> None:
    replica, dedup, dead_letters = pipeline()
    recorder = Recorder()
    binary = binary_message()
    as_structured = Envelope.from_message(binary).to_message()

    assert await replica.deliver(delivery(recorder, binary)) is Outcome.HANDLED
    assert await replica.deliver(delivery(recorder, as_structured)) is Outcome.DUPLICATE

    [(event, envelope)] = recorder.seen
    assert event.filename == "file-7.txt"
    assert envelope.id == "outside-1"
    assert dedup.done == {"outside-1"}
    assert dead_letters.letters == {}


async def test_the_source_check_holds_in_binary_mode() -> None:
    replica, _, dead_letters = pipeline(trusted="/gateway/1")
    recorder = Recorder()

    outcome = await replica.deliver(delivery(recorder, binary_message()))

    assert outcome is Outcome.DEAD_LETTERED
    assert recorder.seen == []
    [letter] = dead_letters.letters.values()
    assert letter.reason == "/partner/1 is no producer"


async def test_a_poison_binary_event_keeps_its_content_type_and_user_properties() -> None:
    replica, _, dead_letters = pipeline()
    bad = binary_message(time="yesterday")

    assert await replica.deliver(delivery(Recorder(), bad)) is Outcome.DEAD_LETTERED

    [letter] = dead_letters.letters.values()
    assert letter.kind == "poison"
    assert letter.content_type == "application/json"
    assert letter.mqtt_properties() == bad.properties
    assert letter.payload == bad.payload.decode()


async def test_a_replay_without_the_properties_takes_them_from_the_stored_letter() -> None:
    replica, _, dead_letters = pipeline()
    message = binary_message()
    down = Recorder(*[RuntimeError("index down")] * FAST.attempts)
    assert await replica.deliver(delivery(down, message)) is Outcome.DEAD_LETTERED
    [letter] = dead_letters.letters.values()
    assert letter.mqtt_properties() == message.properties

    # What an older ``bus dlq replay`` sends: the payload alone (properties=None).
    recorder = Recorder()
    replay = Delivery(recorder.handler, TOPIC, (letter.payload or "").encode(), via=Via.REPLAY,
                      replay_of=letter.id, properties=None)  # fmt: skip
    assert await replica.deliver(replay) is Outcome.HANDLED

    [(_, envelope)] = recorder.seen
    assert envelope.id == "outside-1"
    assert dead_letters.letters == {}


def test_a_letter_the_store_refuses_keeps_its_mqtt_properties_in_each_smaller_form() -> None:
    message = binary_message()
    letter = DeadLetter(
        service="reader", topic=TOPIC, kind="poison", reason="r", payload=message.payload.decode(),
        content_type=message.content_type, properties=list(message.properties),
    )  # fmt: skip
    for smaller in (as_text(letter, ValueError("too big")), minimal(letter, ValueError("x"))):
        assert smaller.content_type == "application/json"
        assert smaller.mqtt_properties() == message.properties
        assert not smaller.truncated
    long = [UserProperty(name="tenant", value="x" * 20_000)]
    cut = as_text(letter.model_copy(update={"properties": long}), ValueError("too big"))
    assert cut.truncated, "a cut property can no longer be replayed as it came"
    assert "properties" in (cut.problem or "")


# -- on the in-memory broker: a service publishing binary mode, a replay request ------


async def test_a_service_publishes_binary_mode_and_its_handlers_read_it() -> None:
    relay = Service("relay", settings=BusSettings(namespace=""), produces=[DocumentUploaded])
    got: list[Envelope] = []

    @relay.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded, envelope: Envelope) -> None:
        got.append(envelope)
        if event.owner != "relayed":
            await relay.publish(event.model_copy(update={"owner": "relayed"}), binary=True)

    async with in_memory(relay) as bus:
        first = await bus.publish(uploaded(1))
        await relay.replica.inbox.settled()

    assert [e.data["owner"] for e in got] == ["alice", "relayed"]
    assert (got[1].correlationid, got[1].causationid) == (first.id, first.id)
    assert got[1].source == relay.source
    assert bus.dead_letters.letters == {}


async def test_a_replay_request_carries_the_mqtt_properties_of_its_letter() -> None:
    reader = Service("reader", settings=BusSettings(namespace=""))
    tenants = {"acme"}
    handled: list[Envelope] = []

    @reader.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded, envelope: Envelope) -> None:
        if envelope.extensions().get("tenant") not in tenants:
            raise PoisonMessageError("unknown tenant")
        handled.append(envelope)

    sent = Envelope.wrap(uploaded(1), source="/partner/1").model_copy(update={"tenant": "globex"})
    async with in_memory(reader) as bus:
        broker = reader.replica.broker
        assert broker is not None
        await send(broker, sent, TOPIC, binary=True)
        await reader.replica.inbox.settled()
        [letter] = bus.dead_letters.letters.values()
        request = ReplayRequest.of(letter)
        assert request.content_type == "application/json"
        assert request.properties == list(sent.to_message(binary=True).properties)

        tenants.add("globex")
        replay_topic = REPLAY_TOPIC.format(service=reader.name)
        await bus.publish_raw(request.model_dump_json().encode(), replay_topic)

    assert handled == [sent]
    assert bus.dead_letters.letters == {}
