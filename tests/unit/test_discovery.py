"""Service discovery without servers: the presence model, the reader's logic, the table."""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import zmqtt
from rich.console import Console

import bus.discovery.health as health_module
from bus import BusSettings, Envelope, Service
from bus._internal.broker import make_broker
from bus.discovery import (
    Announcer,
    Health,
    Presence,
    Roster,
    check_health,
    describe,
    instance_of,
    package_version,
    presence_will,
)
from bus.tools.cli.services import render_table
from bus.tools.graph import build_graph, render_mermaid
from bus.tools.graph.sources import live_nodes
from contracts import (
    DocumentInspected,
    DocumentUploaded,
    Event,
    JobFailed,
    JobProgressed,
    JobSucceeded,
)
from tests.helpers import bus

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def presence(service: str = "indexer", instance: str = "1", **changes: Any) -> Presence:
    fields: dict[str, Any] = {
        "service": service,
        "instance": instance,
        "client_id": f"{service}-{instance}",
        "version": "1.2.3",
        "host": "box",
        "pid": 4242,
        "started_at": T0 - timedelta(hours=2),
        "heartbeat_at": T0,
        "heartbeat_interval": 10.0,
        "consumes": ("documents.uploaded.v1",),
        "produces": ("documents.inspected.v1",),
        "health": Health(broker=True, redis=True, mongo=True),
    }
    return Presence(**(fields | changes))


def topic(p: Presence) -> str:
    return p.topic


def indexer(settings: BusSettings | None = None, **kwargs: Any) -> Service:
    service = Service("indexer", settings=settings, produces=[DocumentInspected], **kwargs)

    @service.on(DocumentUploaded)
    async def index(event: DocumentUploaded) -> None:
        """Nothing: only the declarations matter here."""

    return service


# -- the presence message --------------------------------------------------------


def test_a_presence_survives_the_round_trip() -> None:
    original = presence(jobs=("reindex",), worker=True, consumes=("*",))
    again = Presence.from_bytes(original.to_bytes())
    assert again == original
    assert again.every_event
    assert again.topic == "chorus/presence/indexer/1"


def test_a_newer_presence_with_more_fields_still_reads() -> None:
    payload = presence().model_dump(mode="json") | {"region": "eu-west", "cpu": 0.3}
    assert Presence.model_validate(payload) == presence()


def test_a_presence_of_an_older_version_without_an_ops_url_still_reads() -> None:
    payload = presence().model_dump(mode="json")
    del payload["ops_url"]
    assert Presence.model_validate(payload).ops_url is None
    served = presence(ops_url="http://127.0.0.1:41234")
    assert Presence.from_bytes(served.to_bytes()).ops_url == "http://127.0.0.1:41234"


def test_describe_says_where_the_ops_endpoint_is_when_told() -> None:
    service = indexer(BusSettings())
    up = Health(broker=True)

    def described(ops_url: str | None) -> str | None:
        return describe(service, client_id="indexer-1", consuming=True, working=False,
                        started_at=T0, health=up, ops_url=ops_url).ops_url  # fmt: skip

    assert described(None) is None
    assert described("http://127.0.0.1:41234") == "http://127.0.0.1:41234"


def test_health_names_what_is_down() -> None:
    assert Health(broker=True, redis=False, mongo=None).problems == ["redis"]
    assert Health(broker=True).problems == []


def test_the_will_deletes_the_retained_presence_in_the_namespace() -> None:
    will = presence_will(BusSettings(namespace="blue"), "indexer", "blue.indexer-2-worker")
    assert will == zmqtt.Will(
        topic="blue/chorus/presence/indexer/2-worker",
        payload=b"",
        qos=zmqtt.QoS.AT_LEAST_ONCE,
        retain=True,
    )
    assert instance_of("indexer", "indexer-2") == "2"


def test_describe_announces_what_the_replica_runs() -> None:
    service = indexer(BusSettings(instance="7", presence_interval=2.5))
    up = Health(broker=True)
    p = describe(service, client_id="indexer-7", consuming=True, working=False,
                 started_at=T0, health=up, now=T0)  # fmt: skip
    assert (p.service, p.instance, p.client_id) == ("indexer", "7", "indexer-7")
    assert p.consumes == ("documents.uploaded.v1",)
    assert p.produces == ("documents.inspected.v1",)
    assert p.version == package_version() != "unknown"
    assert (p.pid, p.host, p.heartbeat_interval) == (os.getpid(), socket.gethostname(), 2.5)

    worker = describe(service, client_id="indexer-7-worker", consuming=False, working=True,
                      started_at=T0, health=up)  # fmt: skip
    assert (worker.instance, worker.consumes, worker.worker) == ("7-worker", (), True)


def test_describe_uses_the_declared_version_jobs_and_every_event() -> None:
    journal = Service("recorder", shared=False, version="2.0.0")

    @journal.on_every_event
    async def record(envelope: Envelope) -> None:
        """Nothing."""

    @journal.job()
    async def compact(job: object) -> None:
        """Nothing."""

    p = describe(journal, client_id="recorder-1", consuming=True, working=True,
                 started_at=T0, health=Health(broker=True))  # fmt: skip
    job_events: list[type[Event]] = [JobProgressed, JobSucceeded, JobFailed]
    assert p.consumes == ("*",)
    assert p.produces == tuple(e.contract.type for e in job_events)
    assert (p.version, p.jobs, p.shared) == ("2.0.0", ("compact",), False)


# -- the reader's roster, with a fake clock -------------------------------------------


def test_the_roster_follows_presences_and_their_deletion() -> None:
    roster = Roster()
    first = presence()
    assert roster.apply(topic(first), first.to_bytes())
    assert not roster.apply(topic(first), first.to_bytes())  # the same again: no change
    later = presence(heartbeat_at=T0 + timedelta(seconds=10))
    assert roster.apply(topic(first), later.to_bytes())
    other = presence(instance="2")
    roster.apply(topic(other), other.to_bytes())
    assert [s.presence.instance for s in roster.sightings(T0)] == ["1", "2"]

    assert roster.apply(topic(first), b"")  # a clean stop, or the will
    assert [s.presence.instance for s in roster.sightings(T0)] == ["2"]
    assert not roster.apply(topic(first), b"")


def test_an_unreadable_presence_is_reported_not_listed() -> None:
    roster = Roster()
    where = "chorus/presence/indexer/1"
    assert roster.apply(where, b"{not json")
    assert roster.sightings(T0) == []
    assert roster.unreadable[where].startswith("not a presence message")
    roster.apply(where, presence().to_bytes())
    assert roster.unreadable == {}
    assert len(roster.sightings(T0)) == 1


def test_a_presence_for_another_replica_than_its_topic_is_ignored() -> None:
    roster = Roster()
    real = presence()
    roster.apply(topic(real), real.to_bytes())
    # Whoever may publish on the mailer's presence topic must not pose as an indexer.
    where = "chorus/presence/mailer/9"
    assert roster.apply(where, presence("indexer", "1", ops_url="http://127.0.0.1:1").to_bytes())
    assert roster.apply(where, presence("mailer", "1").to_bytes())  # another instance
    assert roster.apply(where, presence("indexer", "9").to_bytes())  # another service
    assert [s.presence for s in roster.sightings(T0)] == [real]
    assert "another's topic" in roster.unreadable[where]
    assert roster.apply(where, presence("mailer", "9").to_bytes())  # its own: listed
    assert where not in roster.unreadable
    assert len(roster.sightings(T0)) == 2


def test_a_presence_without_heartbeats_for_three_intervals_is_stale() -> None:
    roster = Roster()
    roster.apply("chorus/presence/indexer/1", presence().to_bytes())  # heartbeat at T0, every 10 s
    fresh, = roster.sightings(T0 + timedelta(seconds=29.9))  # fmt: skip
    assert (fresh.stale, fresh.age) == (False, 29.9)
    stale, = roster.sightings(T0 + timedelta(seconds=30.1))  # fmt: skip
    assert stale.stale
    assert stale.to_json()["stale"] is True
    assert stale.to_json()["heartbeat_age"] == 30.1
    # A heartbeat makes it live again.
    roster.apply(
        "chorus/presence/indexer/1", presence(heartbeat_at=T0 + timedelta(seconds=30)).to_bytes()
    )
    assert not roster.sightings(T0 + timedelta(seconds=30.1))[0].stale


def test_the_table_marks_stale_instances() -> None:
    roster = Roster()
    late = T0 - timedelta(minutes=5)
    down = Health(broker=True, redis=False)
    for p in (presence(), presence(instance="2", heartbeat_at=late),
              presence("journal", consumes=("*",), health=down)):  # fmt: skip
        roster.apply(topic(p), p.to_bytes())
    console = Console(record=True, width=240, color_system=None)
    console.print(render_table(BusSettings(namespace="blue"), roster.sightings(T0), T0))
    text = console.export_text()
    rows = {
        (cells[1].strip(), cells[2].strip()): line
        for line in text.splitlines()
        if len(cells := line.split("│")) > 3
    }
    assert "live" in rows["indexer", "1"]
    assert "2h 0m" in rows["indexer", "1"]  # up for two hours
    assert "STALE" in rows["indexer", "2"]
    assert "5m 0s ago" in rows["indexer", "2"]
    assert "every event" in rows["journal", "1"]
    assert "redis down" in rows["journal", "1"]
    assert "3 instance(s) of 2 service(s) on mqtt://localhost:1883 (namespace blue)" in text


# -- the live graph ------------------------------------------------------------------


def test_live_nodes_merge_instances_and_leave_out_stale_and_unknown() -> None:
    roster = Roster()
    gateway = presence("gateway", consumes=(), produces=("documents.uploaded.v1",))
    newer = presence("indexer", "2", produces=("documents.inspected.v1", "documents.indexed.v9"))
    dead = presence("indexer", "3", heartbeat_at=T0 - timedelta(minutes=1), jobs=("old",))
    recorder = presence("recorder", consumes=("*",), produces=(), shared=False)
    for p in (gateway, presence(), newer, dead, recorder):
        roster.apply(topic(p), p.to_bytes())
    nodes, warnings = live_nodes(roster.sightings(T0))
    assert [n.name for n in nodes] == ["gateway", "indexer", "recorder"]
    indexer_node = nodes[1]
    assert indexer_node.consumes == ("documents.uploaded.v1",)
    assert indexer_node.produces == ("documents.inspected.v1",)
    assert indexer_node.jobs == ()  # the stale replica's job is not counted
    recorder_node = nodes[2]
    assert recorder_node.every_event
    assert recorder_node.consumes == ()
    assert not recorder_node.shared
    assert warnings == [
        "left out indexer/3: stale (no heartbeat for 60s)",
        "left out documents.indexed.v9 of indexer: not a known contract here",
    ]
    mermaid = render_mermaid(build_graph(nodes))
    assert "svc_gateway --> ev_documents_uploaded_v1" in mermaid
    assert "ev_documents_uploaded_v1 --> svc_indexer" in mermaid
    assert "every_event -.-> svc_recorder" in mermaid


# -- never raising --------------------------------------------------------------------


async def test_health_checks_never_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health_module, "PROBE_TIMEOUT", 0.05)

    class Hanging:
        async def ping(self) -> bool:
            await asyncio.sleep(10)
            return True

    class Broken:
        @property
        def admin(self) -> Broken:
            return self

        async def command(self, name: str) -> None:
            raise OSError("connection refused")

    assert await check_health(broker=False) == Health(broker=False)
    health = await check_health(broker=False, redis=cast(Any, Hanging()), mongo=cast(Any, Broken()))
    assert health == Health(broker=False, redis=False, mongo=False)


async def test_an_announcer_without_a_connection_logs_and_carries_on() -> None:
    service = indexer()
    broker = make_broker(service.settings, reconnect=False)  # never connected
    started_at = datetime.now(UTC)

    async def presence() -> Presence:
        return describe(service, client_id="indexer-1", consuming=True, working=False,
                        started_at=started_at, health=Health(broker=False))  # fmt: skip

    announcer = Announcer(presence, broker, topic="chorus/presence/indexer/1", interval=10.0)
    assert not await announcer.announce()
    await announcer.start()
    await announcer.stop()


# -- the commands, with no broker to reach --------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.parametrize("args", [["services"], ["services", "--json"], ["graph", "--live"]])
def test_an_unreachable_broker_is_one_line_and_exit_1(args: list[str]) -> None:
    result = bus(*args, env={"BUS_MQTT_URL": f"mqtt://127.0.0.1:{free_port()}"})
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: cannot reach a server of the stack")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
