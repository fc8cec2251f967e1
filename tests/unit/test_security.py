"""Broker rules derived from declarations, the credential files, the producer check."""

from __future__ import annotations

import importlib.util
import stat
from pathlib import Path

import pytest

from bus import BusSettings, Envelope
from bus.security import OPS_RULES, CredentialStore, service_rules
from bus.security.producers import Producers, encode_map, producer_map
from bus.tools.graph.sources import load_services, reference_names
from contracts import DocumentReady, DocumentUploaded, QuotaReserved
from tests.helpers import uploaded

ROOT = Path(__file__).resolve().parents[2]


def reference() -> dict[str, object]:
    return {s.name: s for s in load_services(reference_names(ROOT / "infra" / "services.txt"))}


def test_a_service_may_publish_what_it_produces_and_read_what_it_handles_in_its_group() -> None:
    settings = BusSettings(namespace="blue")
    catalog = reference()["catalog"]
    rules = service_rules(catalog, settings)  # type: ignore[arg-type]
    assert rules.role == "service:blue.catalog"
    assert "blue/documents/ready/v1" in rules.publishes
    assert "blue/documents/uploaded/v1" not in rules.publishes
    assert "$share/catalog/blue/documents/uploaded/v1" in rules.subscribes
    assert "blue/documents/uploaded/v1" not in rules.subscribes
    assert "$share/catalog/blue/chorus/replay/catalog" in rules.subscribes
    assert "blue/chorus/config/catalog" in rules.subscribes
    assert not any(t == "chorus/config/catalog" or t.endswith("/chorus/config/catalog")
                   for t in rules.publishes)  # fmt: skip
    assert rules.client_ids == (
        "blue.catalog-0", "blue.catalog-0-worker", "blue.catalog-1", "blue.catalog-1-worker",
    )  # fmt: skip


def test_the_journal_takes_every_copy_plainly_and_nothing_else_of_the_bus() -> None:
    journal = reference()["journal"]
    rules = service_rules(journal, BusSettings(), replicas=3)  # type: ignore[arg-type]
    handled = [e.contract.topic for e in journal.consumes]  # type: ignore[attr-defined]
    if journal.consumes_every_event:  # type: ignore[attr-defined]
        handled.append("+/+/+")
    assert handled
    assert all(topic in rules.subscribes for topic in handled)
    assert not any(topic.startswith("$share/") for topic in rules.subscribes)
    assert "chorus/replay/journal" in rules.subscribes
    assert rules.publishes == [
        "chorus/presence/journal/+", "chorus/deadletters/journal", "chorus/config/journal/+",
        "chorus/producers/+",
    ]  # fmt: skip
    deny = [a for a in rules.acls if not a.allow]
    assert [(a.acltype, a.topic) for a in deny] == [("publishClientReceive", "chorus/#")]
    assert all(a.priority > deny[0].priority for a in rules.acls if a.allow)
    assert len(rules.client_ids) == 6


def test_the_bootstrap_script_gives_ops_the_same_rules_as_the_bus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "infra"))  # it imports stack_secrets beside it
    spec = importlib.util.spec_from_file_location(
        "identities", ROOT / "infra" / "broker_identities.py"
    )
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert [acl.to_json() for acl in OPS_RULES.acls] == script.OPS_ACLS


def test_credential_files_are_owner_only_and_a_replica_logs_in_as_itself(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials")
    password = store.ensure_service("blue.catalog")
    assert store.ensure_service("blue.catalog") == password  # made once
    folder = tmp_path / "credentials"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "services" / "blue.catalog.json").stat().st_mode) == 0o600
    me = store.for_replica("blue.catalog", "blue.catalog-0")
    assert me is not None
    assert (me.username, me.password) == ("blue.catalog-0", password)
    assert password not in repr(me)
    assert store.for_replica("blue.other", "blue.other-0") is None  # no ops file here
    assert store.rotate_service("blue.catalog") != password


def test_the_producer_map_names_each_types_producers_and_the_command_line() -> None:
    services = reference().values()
    producers = producer_map(services, [{"name": "partner", "produces": ["documents.ready.v1"]}])  # type: ignore[arg-type]
    assert producers[DocumentUploaded.contract.type] == ["cli", "gateway"]
    assert producers[QuotaReserved.contract.type] == ["accounts", "cli"]
    assert producers[DocumentReady.contract.type] == ["catalog", "cli", "partner"]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("/gateway/0", None),
        ("/cli/host-42", None),
        (
            "/catalog/0",
            "source /catalog/0 is not a replica of a declared producer of "
            "documents.uploaded.v1 (cli, gateway)",
        ),
        ("gateway", None),
    ],
)
def test_a_source_is_trusted_only_as_a_producer_of_its_type(
    source: str, problem: str | None
) -> None:
    producers = Producers(BusSettings(), "catalog")
    envelope = Envelope.wrap(uploaded(1), source=source)
    assert producers.check(envelope) is None  # no map yet: nothing is checked
    producers.receive(encode_map({DocumentUploaded.contract.type: ["cli", "gateway"]}))
    assert producers.check(envelope) == problem
    producers.receive(b"not json")  # kept the last map
    assert producers.check(envelope) == problem
    producers.receive(encode_map({}))
    assert producers.check(envelope) == "documents.uploaded.v1 has no declared producer"
