"""``bus docs``: one AsyncAPI 3.0.0 document for the whole system, checked against the spec."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import contracts
from bus.envelope import Envelope
from bus.service import Service
from bus.tools.asyncapi import build_document, render_html, to_json, to_yaml
from bus.tools.graph import load_services, reference_names
from contracts import DocumentUploaded, Event
from tests.helpers import bus, uploaded

ROOT = Path(__file__).resolve().parents[2]
SPEC_SCHEMA = Path(__file__).parent / "data" / "asyncapi-3.0.0.json"

REFERENCE_CONTRACTS: list[type[Event]] = [
    c
    for name in contracts.__all__
    if isinstance(c := getattr(contracts, name), type) and issubclass(c, Event) and c is not Event
]
"""The contracts package's events (other tests register more in this process)."""

FLOW_ORDER = ["gateway", "accounts", "inspector", "catalog", "notifier", "exporter", "journal"]
"""The order ``docs/`` was generated in (as in test_graph.py)."""


@pytest.fixture(scope="module")
def services() -> list[Service]:
    return load_services(reference_names(ROOT / "infra" / "services.txt"))


@pytest.fixture(scope="module")
def document(services: list[Service]) -> dict[str, Any]:
    return build_document(services, REFERENCE_CONTRACTS)


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SPEC_SCHEMA.read_text())
    assert schema["$id"] == "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
    return jsonschema.Draft7Validator(schema)


def test_the_document_is_valid_asyncapi_3(
    document: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []
    assert document["asyncapi"] == "3.0.0"


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d["operations"]["accounts.receive.documents_uploaded_v1"].update(action="sub"),
        lambda d: d["components"]["schemas"]["DocumentUploaded"].update(type=5),
        lambda d: d["servers"]["local"].pop("protocol"),
        lambda d: d["operations"]["gateway.send.documents_uploaded_v1"]["bindings"]["mqtt"].update(
            qos=3
        ),
    ],
)
def test_the_spec_schema_catches_a_broken_document(
    document: dict[str, Any], validator: jsonschema.protocols.Validator, damage: Any
) -> None:
    broken = copy.deepcopy(document)
    damage(broken)
    assert not validator.is_valid(broken)


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    for ref in _refs(document):
        assert ref.startswith("#/"), ref
        node: Any = document
        for part in ref[2:].split("/"):
            assert part in node, ref
            node = node[part]


def test_a_channel_and_a_message_per_contract(document: dict[str, Any]) -> None:
    channels = document["channels"]
    assert sorted(c["address"] for c in channels.values()) == sorted(
        e.contract.topic for e in REFERENCE_CONTRACTS
    )
    messages = document["components"]["messages"]
    assert set(messages) == {e.__name__ for e in REFERENCE_CONTRACTS}
    schemas = document["components"]["schemas"]
    for event in REFERENCE_CONTRACTS:
        info = event.contract
        channel = channels[info.topic.replace("/", "_")]
        assert channel["address"] == info.topic
        assert channel["messages"] == {
            event.__name__: {"$ref": f"#/components/messages/{event.__name__}"}
        }
        message = messages[event.__name__]
        assert message["name"] == info.type
        assert message["contentType"] == "application/cloudevents+json"
        narrowed = message["payload"]["allOf"][1]["properties"]
        assert narrowed["type"] == {"const": info.type}
        assert narrowed["data"] == {"$ref": f"#/components/schemas/{event.__name__}"}
        expected = event.model_json_schema(ref_template="#/components/schemas/{model}")
        expected.pop("$defs", None)
        assert schemas[event.__name__] == expected


def test_every_service_sends_and_receives_exactly_what_it_declares(
    document: dict[str, Any], services: list[Service]
) -> None:
    operations = document["operations"]
    assert {t["name"] for t in document["info"]["tags"]} == {s.name for s in services}
    every_topic = {e.contract.topic for e in REFERENCE_CONTRACTS}
    for service in services:
        declared = {("send", e.contract.topic) for e in service.produces}
        received = (
            every_topic
            if service.consumes_every_event
            else {e.contract.topic for e in service.consumes}
        )
        declared |= {("receive", topic) for topic in received}
        documented = {
            (op["action"], _channel(document, op)["address"])
            for op in operations.values()
            if op["tags"] == [{"name": service.name}]
        }
        assert documented == declared, service.name
    assert len(operations) == sum(
        len(s.produces) + (len(every_topic) if s.consumes_every_event else len(s.consumes))
        for s in services
    )


def test_operations_are_named_and_shaped_as_promised(document: dict[str, Any]) -> None:
    operations = document["operations"]
    accounts = operations["accounts.receive.documents_uploaded_v1"]
    assert accounts["action"] == "receive"
    assert accounts["channel"] == {"$ref": "#/channels/documents_uploaded_v1"}
    assert accounts["x-chorus-subscription"] == "$share/accounts/documents/uploaded/v1"
    assert accounts["bindings"]["mqtt"]["qos"] == 1
    assert operations["gateway.send.documents_uploaded_v1"]["action"] == "send"
    journal = operations["journal.receive.notifications_sent_v1"]
    assert journal["x-chorus-every-event"] is True
    assert journal["x-chorus-subscription"] == "+/+/+"
    for key, operation in operations.items():
        service, action, channel_id = key.split(".")
        assert operation["tags"] == [{"name": service}]
        assert action == operation["action"]
        assert operation["channel"] == {"$ref": f"#/channels/{channel_id}"}
        # AsyncAPI 3: an operation's messages must be messages of its channel.
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"#/channels/{channel_id}/messages/")


def test_the_server_is_the_local_mosquitto(document: dict[str, Any]) -> None:
    assert document["servers"] == {
        "local": {
            "host": "localhost:1883",
            "protocol": "mqtt",
            "protocolVersion": "5",
            "description": "The MQTT broker (Mosquitto in the local stack; BUS_MQTT_URL).",
        }
    }


def test_what_the_bus_sends_matches_the_documented_payload(document: dict[str, Any]) -> None:
    """An envelope as ``Service.publish`` puts it on the wire validates against its message."""
    wire = json.loads(Envelope.wrap(uploaded(1), source="/gateway/1").to_bytes())
    payload = _validator_for(document, "DocumentUploaded")
    assert list(payload.iter_errors(wire)) == []
    assert not payload.is_valid({**wire, "type": "documents.ready.v1"})
    assert not payload.is_valid({**wire, "data": {**wire["data"], "size_bytes": -1}})
    assert not payload.is_valid({k: v for k, v in wire.items() if k != "id"})


def test_yaml_and_json_hold_the_same_document(document: dict[str, Any]) -> None:
    assert json.loads(to_json(document)) == document
    assert yaml.safe_load(to_yaml(document)) == document


def test_the_html_page_is_self_contained_and_complete(document: dict[str, Any]) -> None:
    page = render_html(document)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page
    for channel in document["channels"].values():
        assert channel["address"] in page
    for key in document["operations"]:
        assert f'id="operation-{key}"' in page
    for key in document["components"]["messages"]:
        assert f'id="message-{key}"' in page
    for key in document["components"]["schemas"]:
        assert f'id="schema-{key}"' in page
    assert 'href="#schema-DocumentUploaded"' in page


def test_a_service_using_an_unknown_contract_is_refused() -> None:
    lonely = Service("lonely", produces=[DocumentUploaded])
    with pytest.raises(ValueError, match=r"lonely uses events that are not contracts"):
        build_document([lonely], contracts=[contracts.DocumentReady])


def test_bus_docs_writes_the_three_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = bus("docs", "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    written = json.loads((tmp_path / "out" / "asyncapi.json").read_text())
    assert yaml.safe_load((tmp_path / "out" / "asyncapi.yaml").read_text()) == written
    assert "<h1>" in (tmp_path / "out" / "asyncapi.html").read_text()
    assert len(written["channels"]) == len(REFERENCE_CONTRACTS)
    assert "wrote" in result.stderr


def test_the_committed_documents_are_up_to_date() -> None:
    document = build_document(load_services(FLOW_ORDER), REFERENCE_CONTRACTS)
    regenerate = f"regenerate: bus docs --service {','.join(FLOW_ORDER)}"
    docs = ROOT / "docs"
    assert (docs / "asyncapi.json").read_text() == to_json(document), regenerate
    assert (docs / "asyncapi.yaml").read_text() == to_yaml(document), regenerate
    assert (docs / "asyncapi.html").read_text() == render_html(document), regenerate


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _channel(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    channel: dict[str, Any] = document["channels"][operation["channel"]["$ref"].rsplit("/", 1)[1]]
    return channel


def _validator_for(document: dict[str, Any], message: str) -> jsonschema.protocols.Validator:
    """A validator of one message's payload, resolving ``#/components/...`` in the document."""
    root = {**document, "$ref": f"#/components/messages/{message}/payload"}
    return jsonschema.Draft202012Validator(root)
