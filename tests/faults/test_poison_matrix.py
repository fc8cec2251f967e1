"""Bad inputs interleaved with valid events: each bad one dead-lettered with its reason."""

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import aiomqtt
import pytest

from bus import BusSettings
from bus.deadletters import StoredDeadLetter
from bus.deadletters.storable import PAYLOAD_LIMIT, clip
from bus.runtime.stores import Stores
from tests.faults.conftest import ServiceProcess, consumer_env
from tests.faults.consumer import create_consumer
from tests.faults.counting import wait_for_effects
from tests.helpers import eventually, ops_login, uploaded

pytestmark = pytest.mark.timeout(300)

TOPIC = "documents/uploaded/v1"
VALID_DATA = json.loads(uploaded().model_dump_json())


def event(**changes: object) -> bytes:
    document: dict[str, object] = {
        "specversion": "1.0",
        "id": "poison",
        "source": "/poisoner/1",
        "type": "documents.uploaded.v1",
        "data": VALID_DATA,
    }
    document.update(changes)
    return json.dumps({k: v for k, v in document.items() if v is not ...}).encode()


def data(**changes: object) -> dict[str, object]:
    return {k: v for k, v in {**VALID_DATA, **changes}.items() if v is not ...}


BAD: list[tuple[str, bytes, str]] = [
    ("empty payload", b"", "not valid JSON"),
    ("truncated JSON", b'{"specversion": "1.0", "id"', "not valid JSON"),
    ("binary garbage", b"\x00\xff\xfe\x89PNG", "not valid JSON"),
    ("JSON null", b"null", "not a CloudEvent"),
    ("JSON array", b"[1, 2, 3]", "not a CloudEvent"),
    ("JSON number", b"42", "not a CloudEvent"),
    ("JSON string", b'"hello"', "not a CloudEvent"),
    ("no specversion", event(specversion=...), "missing specversion"),
    ("old specversion", event(specversion="0.3"), "unsupported CloudEvents specversion"),
    ("no id", event(id=...), "missing id"),
    ("empty id", event(id=""), "id: String should have at least 1 character"),
    ("no source", event(source=...), "source: Field required"),
    ("no type", event(type=...), "type: Field required"),
    ("unknown type", event(type="documents.shredded.v1"), "'documents.shredded.v1' arrived"),
    ("other event's type", event(type="jobs.failed.v1"), "'jobs.failed.v1' arrived"),
    ("bad time", event(time="yesterday"), "time:"),
    ("XML content", event(datacontenttype="application/xml"), "unsupported datacontenttype"),
    ("no data", event(data=...), "data fails its contract"),
    ("data is a string", event(data="a document"), "data fails its contract"),
    ("missing field", event(data=data(owner=...)), "owner: Field required"),
    ("negative size", event(data=data(size_bytes=-5)), "size_bytes: Input should be greater"),
    (
        "size not a number",
        event(data=data(size_bytes="big")),
        "size_bytes: Input should be a valid",
    ),
    ("bad uuid", event(data=data(document_id="nope")), "document_id: Input should be a valid UUID"),
    ("unknown field", event(data=data(virus=True)), "virus: Extra inputs are not permitted"),
    ("empty filename", event(data=data(filename="")), "filename: String should have at least"),
]


async def test_every_bad_input_is_dead_lettered_and_the_valid_ones_handled(
    settings: BusSettings, unique: Callable[[str], str], tmp_path: Path, report: list[str]
) -> None:
    name = unique("consumer")
    env = consumer_env(settings, name)
    service = ServiceProcess("tests.faults.consumer:service", "1", env, tmp_path)
    counter = create_consumer(unique("counter"), settings)
    stores = await Stores.open(settings, counter.documents)
    url = urlsplit(settings.mqtt_url)
    sent: list[bytes] = []
    try:
        await service.start()
        async with aiomqtt.Client(
            url.hostname or "localhost",
            url.port or 1883,
            username=ops_login(settings).username,
            password=ops_login(settings).password,
        ) as raw:
            for n, (label, bad, _) in enumerate(BAD):
                # Distinct ids, so dedup cannot hide one bad input behind another.
                payload = bad.replace(b'"id": "poison"', f'"id": "poison-{n}"'.encode())
                sent.append(payload)
                await raw.publish(settings.wire_topic(TOPIC), payload, qos=1)
                await raw.publish(
                    settings.wire_topic(TOPIC),
                    event(id=f"valid-{n}", data=data(filename=f"{label}.txt")),
                    qos=1,
                )

        handled = await wait_for_effects(len(BAD), within=60)

        async def all_dead_lettered() -> bool:
            return await StoredDeadLetter.find(StoredDeadLetter.service == name).count() >= len(BAD)

        await eventually(all_dead_lettered, within=60, what="every bad input in dead letters")
        letters = await StoredDeadLetter.find(StoredDeadLetter.service == name).to_list()
        report.append(
            f"poison matrix: {len(BAD)} bad inputs, {len(letters)} dead-lettered, "
            f"{handled} of {len(BAD)} valid events handled, service alive: {service.alive}"
        )
        assert service.alive
        assert handled == len(BAD)
        assert len(letters) == len(BAD)
        assert all(letter.kind == "poison" for letter in letters)
        # Bad inputs are handled concurrently and dead_at has millisecond precision, so
        # the letters' order says nothing: each is found by the payload it keeps, as text
        # (both sides as clip() writes them: FerretDB refuses a NUL, MongoDB keeps it).
        by_payload = {clip(letter.payload or "", PAYLOAD_LIMIT)[0]: letter for letter in letters}
        assert len(by_payload) == len(BAD), "each bad input has its own letter"
        for (label, _, reason), payload in zip(BAD, sent, strict=True):
            kept, _ = clip(payload.decode("utf-8", errors="replace"), PAYLOAD_LIMIT)
            letter = by_payload.get(kept)
            assert letter is not None, f"{label}: no letter keeps its payload"
            assert reason in letter.reason, f"{label}: {letter.reason}"
    finally:
        await service.stop()
        await stores.close()
