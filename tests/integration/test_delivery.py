"""Idempotent consumers, dead letters and replay, against the real stack."""

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Callable

import aiomqtt

from bus import BusSettings, Publisher, RetryPolicy, Service
from bus.deadletters import StoredDeadLetter
from contracts import DocumentUploaded
from tests.helpers import eventually, ops_login, settled, uploaded

FAST = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.02)
TYPE = DocumentUploaded.contract.type


async def test_copies_of_one_event_reaching_two_replicas_at_once_are_applied_once(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    name = unique("indexer")
    applied: Counter[str] = Counter()
    for instance in ("a", "b"):
        replica = Service(name, settings=settings.model_copy(update={"instance": instance}))

        @replica.on(DocumentUploaded)
        async def apply(event: DocumentUploaded) -> None:
            await asyncio.sleep(0.02)  # widen the window in which the copies overlap
            applied[event.filename] += 1

        services.append(replica)
        await replica.start()

    async with Publisher(settings=settings) as publisher:
        envelopes = [await publisher.publish(uploaded(n)) for n in range(40)]
        for envelope in envelopes:  # every event a second time, same id
            await publisher.publish_envelope(envelope)

    await eventually(lambda: applied.total() >= 40, what="all 40 events to be applied")
    # Every one of the 80 deliveries ended, handled or skipped as a duplicate: no copy left.
    await eventually(lambda: settled(name, type=TYPE) >= 80, what="all 80 deliveries to end")
    print(f"sent 80 deliveries of 40 events, applied {applied.total()}")
    assert applied.total() == 40
    assert max(applied.values()) == 1


async def test_a_failing_event_is_dead_lettered_then_replayed_to_that_service_only(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    broken = {"yes": True}
    handled: list[str] = []
    fragile = Service(unique("fragile"), settings=settings, retry=FAST)

    @fragile.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded) -> None:
        if broken["yes"]:
            raise ConnectionRefusedError("the search index is down")
        handled.append(event.filename)

    bystander_seen: list[str] = []
    bystander = Service(unique("bystander"), settings=settings)

    @bystander.on(DocumentUploaded)
    async def watch(event: DocumentUploaded) -> None:
        bystander_seen.append(event.filename)

    for service in (fragile, bystander):
        services.append(service)
        await service.start()

    async with aiomqtt.Client(
        "localhost",
        1883,
        username=ops_login(settings).username,
        password=ops_login(settings).password,
    ) as observer:
        await observer.subscribe(settings.wire_topic(f"chorus/deadletters/{fragile.name}"), qos=1)
        async with Publisher(settings=settings) as publisher:
            sent = await publisher.publish(uploaded(1))
        async with asyncio.timeout(20):
            announced = json.loads((await anext(observer.messages)).payload)

    letter = await StoredDeadLetter.find_one(StoredDeadLetter.event_id == sent.id)
    assert letter is not None
    assert announced["id"] == letter.id
    assert letter.service == fragile.name
    assert letter.kind == "failed"
    assert letter.attempts == 3
    assert letter.topic == "documents/uploaded/v1"
    assert "the search index is down" in letter.reason
    assert bystander_seen == ["file-1.txt"]

    broken["yes"] = False
    env = dict(
        os.environ,
        BUS_MONGO_URL=settings.mongo_url,
        BUS_MQTT_URL=settings.mqtt_url,
        BUS_NAMESPACE=settings.namespace,
    )
    # A process of its own: the command opens MongoDB, and Beanie binds its client to one
    # event loop per process (this test's services use it in this one).
    replay = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bus", "dlq", "replay", letter.id[:10], env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await replay.communicate()
    assert replay.returncode == 0, err.decode()

    await eventually(lambda: handled == ["file-1.txt"], what="the replay to be handled")

    async def letter_removed() -> bool:
        return await StoredDeadLetter.get(letter.id) is None

    await eventually(letter_removed, what="the dead letter to be removed")
    # A later event on the topic the bystander reads: once its delivery there ended, so
    # had that of anything the replay sent it first.
    async with Publisher(settings=settings) as publisher:
        await publisher.publish(uploaded(2))

    def next_one_ended() -> bool:
        return "file-2.txt" in bystander_seen and settled(bystander.name, type=TYPE) >= 2

    await eventually(next_one_ended, what="the bystander's next event to end")
    assert bystander_seen == ["file-1.txt", "file-2.txt"], "the replay reached another service"
    # There a copy would be skipped as a duplicate, not handled: count what reached it.
    assert settled(bystander.name, type=TYPE) == 2, "the replay reached another service"


async def test_poison_on_the_real_broker_lands_in_dead_letters_and_the_stream_goes_on(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    handled: list[str] = []
    service = Service(unique("sturdy"), settings=settings)

    @service.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded) -> None:
        handled.append(event.filename)

    services.append(service)
    await service.start()
    async with aiomqtt.Client(
        "localhost",
        1883,
        username=ops_login(settings).username,
        password=ops_login(settings).password,
    ) as raw:
        await raw.publish(settings.wire_topic("documents/uploaded/v1"), b"\x00\x01 not json", qos=1)
    async with Publisher(settings=settings) as publisher:
        await publisher.publish(uploaded(2))

    await eventually(lambda: handled == ["file-2.txt"], what="the valid event")
    letters = await StoredDeadLetter.find(StoredDeadLetter.service == service.name).to_list()
    assert [letter.kind for letter in letters] == ["poison"]
    assert letters[0].reason.startswith("not valid JSON")
