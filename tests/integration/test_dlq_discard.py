"""``bus dlq`` discard, filters, groups and replay of a group, against the real store and broker.

Letters are stored in the test's own database; each command runs in-process through
typer's ``CliRunner``, in a thread, while this test holds no MongoDB client: Beanie binds
its client to the event loop of whoever opened it last, and the command opens its own.
"""

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiomqtt
import pytest
from typer.testing import Result

from bus import BusSettings
from bus.deadletters import DeadLetter, StoredDeadLetter
from bus.deadletters.models import Kind
from bus.deadletters.replay import ReplayRequest
from bus.mongo import connect_mongo, release_mongo
from tests.helpers import bus, ops_login


def letter(service: str, reason: str, *, kind: Kind = "failed", days: float = 0) -> DeadLetter:
    return DeadLetter(
        service=service, topic="documents/uploaded/v1", kind=kind, reason=reason,
        error_type="builtins.ValueError" if kind == "failed" else "bus.envelope.EnvelopeError",
        payload="{}", dead_at=datetime.now(UTC) - timedelta(days=days),
    )  # fmt: skip


async def store(settings: BusSettings, *letters: DeadLetter) -> None:
    await connect_mongo(settings.mongo_url, [StoredDeadLetter])
    try:
        for each in letters:
            await StoredDeadLetter(**each.model_dump()).insert()
    finally:
        await release_mongo(settings.mongo_url)


async def remaining(settings: BusSettings) -> set[str]:
    await connect_mongo(settings.mongo_url, [StoredDeadLetter])
    try:
        return {each.id for each in await StoredDeadLetter.find().to_list()}
    finally:
        await release_mongo(settings.mongo_url)


async def dlq(settings: BusSettings, *args: str) -> Result:
    env = {
        "BUS_MONGO_URL": settings.mongo_url,
        "BUS_REDIS_URL": settings.redis_url,
        "BUS_MQTT_URL": settings.mqtt_url,
        "BUS_NAMESPACE": settings.namespace,
        "COLUMNS": "200",
    }
    return await asyncio.to_thread(bus, "dlq", *args, env=env)


async def test_one_letter_is_discarded_by_a_unique_prefix_and_only_it(
    settings: BusSettings, unique: Callable[[str], str]
) -> None:
    service = unique("fragile")
    gone, kept = letter(service, "ValueError: bad 1"), letter(service, "ValueError: bad 2")
    await store(settings, gone, kept)

    result = await dlq(settings, "discard", gone.id[:10])

    assert result.exit_code == 0, result.stderr
    assert f"discarded {gone.id} ({service}, failed: ValueError: bad 1)" in result.stdout
    assert await remaining(settings) == {kept.id}
    again = await dlq(settings, "discard", gone.id)
    assert again.exit_code == 1
    assert f"no dead letter {gone.id!r}" in again.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ((), 1, "give one dead letter ID, or --all"),
        (("--all", "--older-than", "7x"), 2, "'7x' is not a duration"),
        (("--all", "--older-than", "-1d"), 2, "'-1d' is negative"),
        (("--all", "--kind", "nope"), 2, "'nope' is not one of 'poison', 'failed', 'job'"),
        (("abc", "--all"), 1, "give one dead letter ID or --all, not both"),
        (("abc", "--service", "x"), 1, "--group go with --all"),
        (("abc",), 1, "no dead letter 'abc'"),
    ],
)
async def test_wrong_arguments_say_what_was_wrong_and_exit_non_zero(
    settings: BusSettings, args: tuple[str, ...], code: int, message: str
) -> None:
    kept = letter("fragile", "ValueError: bad 1", days=30)
    await store(settings, kept)

    result = await dlq(settings, "discard", *args)

    assert result.exit_code == code
    assert message in result.stderr
    assert await remaining(settings) == {kept.id}


async def test_a_bulk_discard_counts_asks_and_removes_exactly_what_its_filters_select(
    settings: BusSettings, unique: Callable[[str], str]
) -> None:
    service, other = unique("fragile"), unique("other")
    selected = [letter(service, f"ValueError: bad {n}", days=8 + n) for n in range(3)]
    not_selected = [
        letter(service, "ValueError: too young", days=1),
        letter(service, "not valid JSON", kind="poison", days=9),
        letter(other, "ValueError: another service", days=9),
    ]
    await store(settings, *selected, *not_selected)
    everything = {each.id for each in selected + not_selected}
    narrowed = ("--all", "--service", service, "--kind", "failed", "--older-than", "7d")

    dry = await dlq(settings, "discard", *narrowed, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "would discard: 3 dead letter(s)" in dry.stdout
    assert await remaining(settings) == everything

    # No --yes and nobody to answer: nothing is removed.
    refused = await dlq(settings, "discard", *narrowed)
    assert refused.exit_code == 1
    assert "to discard: 3 dead letter(s)" in refused.stdout
    assert "Discard these 3 dead letter(s) for good?" in refused.stdout
    assert await remaining(settings) == everything

    done = await dlq(settings, "discard", *narrowed, "--yes")
    assert done.exit_code == 0, done.stderr
    assert "discarded 3 dead letter(s)" in done.stdout
    assert await remaining(settings) == {each.id for each in not_selected}

    nothing = await dlq(settings, "discard", *narrowed, "--yes")
    assert nothing.exit_code == 0
    assert "no dead letters match" in nothing.stdout


async def test_list_filters_by_kind_reason_age_and_group(
    settings: BusSettings, unique: Callable[[str], str]
) -> None:
    service = unique("fragile")
    refused = [
        letter(service, f"ValueError: Refused document {n}a9f3c2e1d", days=n) for n in range(3)
    ]
    dotted = letter(service, "ValueError: a.b failed", days=2)
    poison = letter(service, "not valid JSON: line 1", kind="poison", days=10)
    await store(settings, *refused, dotted, poison)

    async def listed(*args: str) -> list[str]:
        result = await dlq(settings, "list", "--json", *args)
        assert result.exit_code == 0, result.stderr
        return [json.loads(line)["id"] for line in result.stdout.splitlines()]

    assert await listed("--kind", "poison") == [poison.id]
    # Plain text, case ignored, and newest first.
    assert await listed("--reason", "REFUSED doc") == [each.id for each in refused]
    assert await listed("--reason", "a.b") == [dotted.id]
    assert await listed("--reason", "a*b") == []
    assert await listed("--older-than", "36h") == [refused[2].id, dotted.id, poison.id]
    assert await listed("--service", "nobody") == []

    groups = await dlq(settings, "groups", "--json")
    assert groups.exit_code == 0, groups.stderr
    counted = [json.loads(line) for line in groups.stdout.splitlines()]
    assert [(g["count"], g["kind"]) for g in counted] == [
        (3, "failed"), (1, "failed"), (1, "poison"),
    ]  # fmt: skip
    assert counted[0]["shape"] == "ValueError: Refused document <id>"
    assert await listed("--group", counted[0]["key"]) == [each.id for each in refused]
    assert await listed("--group", counted[0]["key"], "--older-than", "1d") == [
        each.id for each in refused[1:]
    ]

    table = await dlq(settings, "groups")
    assert counted[0]["key"] in table.stdout
    assert "ValueError" in table.stdout


async def test_a_group_is_discarded_in_batches(
    settings: BusSettings, unique: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bus.deadletters.store.BATCH", 2)
    monkeypatch.setattr("bus.tools.cli.dlq.BATCH", 2)
    service = unique("fragile")
    group = [letter(service, f"ValueError: page {n} is broken") for n in range(5)]
    other = letter(service, "ValueError: something else")
    await store(settings, *group, other)
    groups = await dlq(settings, "groups", "--json")
    key = json.loads(groups.stdout.splitlines()[0])["key"]

    result = await dlq(settings, "discard", "--all", "--group", key, "--yes")

    assert result.exit_code == 0, result.stderr
    assert "discarded 5 dead letter(s)" in result.stdout
    assert await remaining(settings) == {other.id}


async def test_replay_of_a_group_asks_only_for_its_letters_on_their_service_s_topic(
    settings: BusSettings, unique: Callable[[str], str]
) -> None:
    service = unique("fragile")
    group = [letter(service, f"ValueError: page {n} is broken") for n in range(3)]
    other = letter(service, "ValueError: something else")
    await store(settings, *group, other)
    groups = await dlq(settings, "groups", "--json")
    key = json.loads(groups.stdout.splitlines()[0])["key"]

    dry = await dlq(settings, "replay", "--all", "--group", key, "--dry-run")
    assert "would replay: 3 dead letter(s)" in dry.stdout

    login = ops_login(settings)
    async with aiomqtt.Client(
        "localhost", 1883, username=login.username, password=login.password
    ) as observer:
        await observer.subscribe(settings.wire_topic(f"chorus/replay/{service}"), qos=1)
        result = await dlq(settings, "replay", "--all", "--group", key)
        assert result.exit_code == 0, result.stderr
        assert "asked for 3 replay(s)" in result.stdout
        asked = set()
        async with asyncio.timeout(20):
            async for message in observer.messages:
                asked.add(ReplayRequest.model_validate_json(bytes(message.payload)).deadletter_id)
                if len(asked) == 3:
                    break
    assert asked == {each.id for each in group}
    # Replaying removes nothing by itself: the service does, once it has handled one.
    assert await remaining(settings) == {each.id for each in [*group, other]}
