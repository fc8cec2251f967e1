"""Reading and replaying stored dead letters, for the command line and scripts."""

from __future__ import annotations

import zmqtt

from bus._internal.broker import make_broker
from bus.constants import REPLAY_TOPIC
from bus.deadletters.models import StoredDeadLetter
from bus.deadletters.replay import ReplayRequest
from bus.settings import BusSettings


async def list_letters(*, service: str | None = None, limit: int = 50) -> list[StoredDeadLetter]:
    """The newest dead letters first, optionally of one service."""
    query = (
        StoredDeadLetter.find(StoredDeadLetter.service == service)
        if service
        else StoredDeadLetter.find()
    )
    return await query.sort(-StoredDeadLetter.dead_at).limit(limit).to_list()  # type: ignore[operator]


async def find_letter(letter_id: str) -> StoredDeadLetter | None:
    """One dead letter by id, or by a unique prefix of its id."""
    exact = await StoredDeadLetter.get(letter_id)
    if exact is not None:
        return exact
    matches = await StoredDeadLetter.find({"_id": {"$regex": f"^{letter_id}"}}).limit(2).to_list()
    return matches[0] if len(matches) == 1 else None


async def request_replays(letters: list[StoredDeadLetter], settings: BusSettings) -> None:
    """Ask each letter's service, and only it, to handle the letter's event again."""
    broker = make_broker(settings, reconnect=False)
    await broker.connect()
    try:
        for letter in letters:
            request = ReplayRequest(
                deadletter_id=letter.id, topic=letter.topic, payload=letter.payload or ""
            )
            await broker.publish(
                request.model_dump_json().encode(),
                REPLAY_TOPIC.format(service=letter.service),
                qos=zmqtt.QoS.AT_LEAST_ONCE,
            )
    finally:
        await broker.stop()
