"""Reading and replaying stored dead letters, for the command line and scripts."""

from __future__ import annotations

import json
import logging

from arq.connections import RedisSettings, create_pool

from bus._internal.mqtt import QOS1, connected_client
from bus.constants import REPLAY_TOPIC
from bus.deadletters.models import StoredDeadLetter
from bus.deadletters.replay import ReplayRequest
from bus.jobs.queue import json_deserializer, json_serializer, rerun
from bus.settings import BusSettings

log = logging.getLogger("bus.deadletters")


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
    """Ask each letter's service, and only it, to handle the letter's event again.

    A failed job is re-run under its own id instead; its worker removes the
    letter when the job succeeds.
    """
    jobs = [letter for letter in letters if letter.kind == "job"]
    if jobs:
        await _rerun_jobs(jobs, settings)
    events = [letter for letter in letters if letter.kind != "job" and _replayable(letter)]
    if not events:
        return
    async with connected_client(settings) as client:
        for letter in events:
            request = ReplayRequest(
                deadletter_id=letter.id, topic=letter.topic, payload=letter.payload or ""
            )
            await client.publish(
                settings.wire_topic(REPLAY_TOPIC.format(service=letter.service)),
                request.model_dump_json().encode(),
                qos=QOS1,
            )


def _replayable(letter: StoredDeadLetter) -> bool:
    if letter.truncated:
        log.warning("dead letter %s was cut to fit the store: not replayed", letter.id)
    return not letter.truncated


async def _rerun_jobs(letters: list[StoredDeadLetter], settings: BusSettings) -> None:
    redis = await create_pool(
        RedisSettings.from_dsn(settings.redis_url),
        job_serializer=json_serializer,
        job_deserializer=json_deserializer,
    )
    try:
        for letter in letters:
            job = letter.original_job()
            if job is None:
                log.warning("dead letter %s does not hold its job: not re-run", letter.id)
                continue
            if not _replayable(letter):
                continue
            envelope = letter.original_envelope()
            cause = json.dumps(envelope) if envelope else None
            await rerun(
                redis, service=settings.scoped(letter.service), job=job["name"], key=job["key"],
                kwargs=job.get("kwargs", {}), cause=cause,
            )  # fmt: skip
    finally:
        await redis.aclose()
