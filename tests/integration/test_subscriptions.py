"""Shared, persistent QoS 1 subscriptions on a real Mosquitto."""

import asyncio
from collections import Counter
from collections.abc import Callable

from bus import BusSettings, JobContext, Publisher, Service
from bus.jobs.declare import JobFunc
from contracts import DocumentUploaded
from tests.helpers import eventually, jobs_finished, settled, uploaded


def counting_service(
    name: str, settings: BusSettings, instance: str = "1"
) -> tuple[Service, Counter[str]]:
    service = Service(name, settings=settings.model_copy(update={"instance": instance}))
    seen: Counter[str] = Counter()

    @service.on(DocumentUploaded)
    async def count(event: DocumentUploaded) -> None:
        seen[event.filename] += 1

    return service, seen


async def test_replicas_split_the_stream_while_other_services_get_it_all(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    replica_a, seen_a = counting_service(unique("indexer"), settings, instance="a")
    replica_b, seen_b = counting_service(unique("indexer"), settings, instance="b")
    auditor, seen_audit = counting_service(unique("auditor"), settings)
    for service in (replica_a, replica_b, auditor):
        services.append(service)
        await service.start()

    async with Publisher(settings=settings) as publisher:
        for n in range(200):
            await publisher.publish(uploaded(n))

    await eventually(lambda: seen_audit.total() == 200, what="the auditor to get all 200")
    await eventually(lambda: seen_a.total() + seen_b.total() >= 200, what="the replicas to get 200")
    print(
        f"replica a: {seen_a.total()}, replica b: {seen_b.total()}, auditor: {seen_audit.total()}"
    )
    assert seen_a.total() + seen_b.total() == 200
    assert not set(seen_a) & set(seen_b), "an event was handled by both replicas"
    assert set(seen_a) | set(seen_b) == set(seen_audit)
    assert seen_a.total() > 0
    assert seen_b.total() > 0
    assert max(seen_audit.values()) == 1


async def test_events_published_while_a_service_is_down_arrive_after_restart(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    name = unique("indexer")
    service, seen = counting_service(name, settings)
    services.append(service)
    await service.start()
    await service.stop()

    async with Publisher(settings=settings) as publisher:
        for n in range(50):
            await publisher.publish(uploaded(n))

    # A new process of the same replica: same name and instance, so the same session.
    restarted, seen_after = counting_service(name, settings)
    services.append(restarted)
    await restarted.start()
    await eventually(lambda: seen_after.total() == 50, what="the queued events after restart")
    assert set(seen_after) == {f"file-{n}.txt" for n in range(50)}
    assert seen.total() == 0


async def test_a_backlog_larger_than_zmqtts_replay_buffer_arrives_after_restart(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    # A resumed session's backlog reaches the client before it has subscribed again;
    # without a Receive Maximum, zmqtt holds over 1000 of them, drops the connection,
    # and does so again on every reconnection: the service never gets going.
    backlog = 1500
    name = unique("indexer")
    service, _ = counting_service(name, settings)
    services.append(service)
    await service.start()
    await service.stop()

    quick = settings.model_copy(update={"journal_first": False})
    async with Publisher(settings=quick) as publisher:
        await asyncio.gather(*(publisher.publish(uploaded(n)) for n in range(backlog)))

    restarted, seen_after = counting_service(name, settings)
    services.append(restarted)
    await restarted.start()
    await eventually(
        lambda: seen_after.total() == backlog, within=60, what="the whole backlog after restart"
    )
    assert len(seen_after) == backlog


async def test_deployments_in_different_namespaces_share_a_broker_without_crosstalk(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    name = unique("indexer")  # the same service name in both namespaces
    ours, seen_ours = counting_service(name, settings)
    other = settings.model_copy(update={"namespace": settings.namespace + "x"})
    theirs, seen_theirs = counting_service(name, other)
    for service in (ours, theirs):
        services.append(service)
        await service.start()

    async with Publisher(settings=settings) as publisher:
        for n in range(20):
            await publisher.publish(uploaded(n))
    async with Publisher(settings=other) as publisher:
        await publisher.publish(uploaded(99))

    await eventually(lambda: seen_ours.total() == 20, what="our 20 events")
    await eventually(lambda: seen_theirs.total() == 1, what="their one event")
    assert "file-99.txt" not in seen_ours
    assert set(seen_theirs) == {"file-99.txt"}


async def test_namespaces_share_a_redis_without_sharing_records_jobs_or_sessions(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    name = unique("twin")  # the same service, replica and event id in both namespaces
    done: list[tuple[str, str]] = []

    def deployment(namespace: str) -> tuple[Service, JobFunc]:
        service = Service(name, settings=settings.model_copy(update={"namespace": namespace}))

        @service.on(DocumentUploaded)
        async def index(event: DocumentUploaded) -> None:
            done.append((namespace, "event"))

        @service.job()
        async def reindex(job: JobContext) -> None:
            done.append((namespace, "job"))

        return service, reindex

    namespaces = (settings.namespace + "a", settings.namespace + "b")
    twins = [deployment(namespace) for namespace in namespaces]
    assert twins[0][0].client_id != twins[1][0].client_id
    for service, _ in twins:
        services.append(service)
        await service.start(work=True)
    for service, reindex in twins:
        assert await service.enqueue(reindex, key="same")
        async with Publisher(settings=service.settings) as publisher:
            await publisher.publish(uploaded(), id="one-event-id")

    expected = {(n, kind) for n in namespaces for kind in ("event", "job")}
    await eventually(lambda: set(done) == expected, what="each deployment's event and job")
    # Nothing more arrives: neither took the other's work. Both deployments carry one
    # name, so the counts cover both: every delivery ended, every queued job finished.
    await eventually(lambda: settled(name) >= 2, what="both deliveries to end")
    await eventually(lambda: jobs_finished(name), what="both jobs to finish")
    assert sorted(done) == sorted(expected)
    # The same event id: a copy of the other's event would be skipped, not handled.
    assert settled(name) == 2, "a deployment got the other's event"
