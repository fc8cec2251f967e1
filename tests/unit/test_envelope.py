import json

import pytest

from bus import BusSettings, Envelope, EnvelopeError
from tests.helpers import uploaded


def test_a_first_event_starts_its_own_chain() -> None:
    envelope = Envelope.wrap(uploaded(), source="/gateway/1")
    assert envelope.specversion == "1.0"
    assert envelope.type == "documents.uploaded.v1"
    assert envelope.correlationid == envelope.id
    assert envelope.causationid is None


def test_an_event_caused_by_another_continues_its_chain() -> None:
    first = Envelope.wrap(uploaded(1), source="/gateway/1")
    second = Envelope.wrap(uploaded(2), source="/accounts/1", cause=first)
    third = Envelope.wrap(uploaded(3), source="/inspector/1", cause=second)
    assert second.causationid == first.id
    assert third.causationid == second.id
    assert {first.correlationid, second.correlationid, third.correlationid} == {first.id}


def test_the_wire_format_is_structured_cloudevents_json() -> None:
    envelope = Envelope.wrap(uploaded(), source="/gateway/1", id="fixed-id")
    document = json.loads(envelope.to_bytes())
    assert document["id"] == "fixed-id"
    assert set(document) >= {
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "datacontenttype",
        "data",
    }
    assert "causationid" not in document  # absent, not null
    assert document["data"]["owner"] == "alice"
    assert Envelope.from_bytes(envelope.to_bytes()) == envelope


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not a CloudEvent"),
        (b'{"specversion": "1.0", "id": "x", "type": "a.b.v1"}', "source: Field required"),
        (b'{"specversion": "0.3", "id": "x", "source": "/s", "type": "a.b.v1"}', "specversion"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"source": "/s", "type": "a.b.v1", "data": {}}', "missing id, specversion"),
        (
            b'{"specversion": "1.0", "id": "x", "source": "/s", "type": "a.b.v1",'
            b' "datacontenttype": "application/xml", "data": "<a/>"}',
            "unsupported datacontenttype",
        ),
    ],
)
def test_bad_payloads_get_a_readable_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        Envelope.from_bytes(payload)


def test_a_namespace_prefixes_topics_on_the_wire_and_is_stripped_on_the_way_in() -> None:
    plain = BusSettings(namespace="")
    spaced = BusSettings(namespace="dev-2")
    assert plain.wire_topic("documents/uploaded/v1") == "documents/uploaded/v1"
    assert spaced.wire_topic("+/+/+") == "dev-2/+/+/+"
    assert spaced.local_topic("dev-2/documents/uploaded/v1") == "documents/uploaded/v1"
    assert spaced.local_topic("other/documents/uploaded/v1") == "other/documents/uploaded/v1"
