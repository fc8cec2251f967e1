"""Reading, replaying and discarding stored dead letters, for the command line and scripts."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.connections import RedisSettings, create_pool
from pydantic import BaseModel, Field
from redis.asyncio import Redis

from bus._internal.mqtt import QOS1, connected_client
from bus.constants import ARQ_RESULT_KEY, ARQ_RETRY_KEY, REPLAY_TOPIC
from bus.deadletters.groups import group_key
from bus.deadletters.models import Kind, StoredDeadLetter
from bus.deadletters.replay import ReplayRequest
from bus.jobs.queue import json_deserializer, json_serializer, rerun
from bus.settings import BusSettings

log = logging.getLogger("bus.deadletters")

JOB_LETTER_PREFIX = "job:"
"""A job's dead letter is ``job:<arq job id>`` (:func:`bus.jobs.runner.deadletter_id`)."""

BATCH = 2000
"""Letters deleted or read by id per request in bulk work. FerretDB 1.24 (SQLite) scans the
collection for each request whatever its size (2.2 s for 500 ids or 2,000 among 3,000
letters, 66 ms per single delete, measured): few large requests are fastest."""

_REGEX_SPECIALS = frozenset("\\.^$|?*+()[]{}")

Progress = Callable[[int], None]
"""Told how many more letters were done, after each batch."""


@dataclass(frozen=True)
class LetterFilter:
    """Which dead letters a command means; every field given must hold.

    Attributes:
        service: Only this service's letters.
        kind: Only this kind (``poison``, ``failed`` or ``job``).
        reason: Text the reason contains, as a plain substring, case ignored (not a
            regular expression: ``.`` and ``*`` match themselves).
        older_than: Only letters whose last failure is at least this old.
        group: Only the letters of this group (:attr:`LetterGroup.key` from
            :func:`bus.deadletters.groups.group_letters`); checked on each letter read,
            since the store does not hold the shape.
    """

    service: str | None = None
    kind: Kind | None = None
    reason: str | None = None
    older_than: timedelta | None = None
    group: str | None = None

    def query(self, now: datetime | None = None) -> dict[str, Any]:
        """What the store can check of this filter (all but ``group``), as a MongoDB query."""
        query: dict[str, Any] = {}
        if self.service is not None:
            query["service"] = self.service
        if self.kind is not None:
            query["kind"] = self.kind
        if self.reason:
            query["reason"] = {"$regex": _literal(self.reason), "$options": "i"}
        if self.older_than is not None:
            query["dead_at"] = {"$lte": (now or datetime.now(UTC)) - self.older_than}
        return query

    def admits(self, letter: LetterSummary | StoredDeadLetter) -> bool:
        """Whether ``letter``, read with :meth:`query`, is in :attr:`group` too."""
        return self.group is None or group_key(letter) == self.group

    @property
    def empty(self) -> bool:
        """True when the filter selects every letter."""
        return self == LetterFilter()


class LetterSummary(BaseModel):
    """What bulk operations and grouping read of a stored letter: no payload, no envelope."""

    id: str = Field(alias="_id")
    service: str
    kind: Kind
    error_type: str = ""
    reason: str = ""
    dead_at: datetime
    event_type: str | None = None


_SUMMARY_FIELDS = {name: 1 for name in ("service", "kind", "error_type", "reason", "dead_at")}


async def list_letters(
    where: LetterFilter | None = None, *, limit: int = 50
) -> list[StoredDeadLetter]:
    """The newest dead letters first, those ``where`` selects (default: all)."""
    where = where or LetterFilter()
    found: list[StoredDeadLetter] = []
    query = StoredDeadLetter.find(where.query()).sort(-StoredDeadLetter.dead_at)  # type: ignore[operator]
    if where.group is None:
        return await query.limit(limit).to_list()
    async for letter in query:
        if where.admits(letter):
            found.append(letter)
            if len(found) >= limit:
                break
    return found


async def summaries(where: LetterFilter | None = None) -> list[LetterSummary]:
    """Every letter ``where`` selects, newest first, without its payload: for bulk work
    (grouping, discarding, replaying) over many letters."""
    where = where or LetterFilter()
    collection = StoredDeadLetter.get_pymongo_collection()
    cursor = collection.find(where.query(), _SUMMARY_FIELDS | {"event_type": 1})
    found = []
    async for document in cursor.sort("dead_at", -1):
        summary = LetterSummary.model_validate(document)
        if where.admits(summary):
            found.append(summary)
    return found


async def find_letter(letter_id: str) -> StoredDeadLetter | None:
    """One dead letter by id, or by a unique prefix of its id."""
    exact = await StoredDeadLetter.get(letter_id)
    if exact is not None:
        return exact
    matches = (
        await StoredDeadLetter.find({"_id": {"$regex": f"^{_literal(letter_id)}"}})
        .limit(2)
        .to_list()
    )
    return matches[0] if len(matches) == 1 else None


async def discard_letters(
    letter_ids: Sequence[str], settings: BusSettings, *, progress: Progress | None = None
) -> int:
    """Delete these dead letters for good; the number deleted (those already gone are not
    counted).

    A failed job's letter takes arq's kept failure and try count with it, so that the job
    can be asked for again under its key (``Service.enqueue`` is refused while arq keeps
    a result); a job that completed keeps its completion record.
    """
    deleted = 0
    collection = StoredDeadLetter.get_pymongo_collection()
    for start in range(0, len(letter_ids), BATCH):
        batch = list(letter_ids[start : start + BATCH])
        result = await collection.delete_many({"_id": {"$in": batch}})
        deleted += result.deleted_count
        if progress is not None:
            progress(len(batch))
    job_ids = [
        i.removeprefix(JOB_LETTER_PREFIX) for i in letter_ids if i.startswith(JOB_LETTER_PREFIX)
    ]
    if job_ids:
        redis: Redis = Redis.from_url(settings.redis_url)
        try:
            await forget_job_failures(redis, job_ids)
        finally:
            await redis.aclose()
    return deleted


async def forget_job_failures(redis: Redis, job_ids: Sequence[str]) -> None:
    """Delete arq's kept result and try count of these (failed) jobs."""
    for start in range(0, len(job_ids), BATCH):
        batch = job_ids[start : start + BATCH]
        keys = [key.format(job_id=i) for i in batch for key in (ARQ_RESULT_KEY, ARQ_RETRY_KEY)]
        await redis.delete(*keys)


async def request_replays(
    letters: Sequence[StoredDeadLetter], settings: BusSettings, *, progress: Progress | None = None
) -> None:
    """Ask each letter's service, and only it, to handle the letter's event again.

    A failed job is re-run under its own id instead; its worker removes the
    letter when the job succeeds.
    """
    jobs = [letter for letter in letters if letter.kind == "job"]
    if jobs:
        await _rerun_jobs(jobs, settings)
        if progress is not None:
            progress(len(jobs))
    events = [letter for letter in letters if letter.kind != "job"]
    if not events:
        return
    async with connected_client(settings) as client:
        for letter in events:
            if _replayable(letter):
                request = ReplayRequest.of(letter)
                await client.publish(
                    settings.wire_topic(REPLAY_TOPIC.format(service=letter.service)),
                    request.model_dump_json().encode(),
                    qos=QOS1,
                )
            if progress is not None:
                progress(1)


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


def _literal(text: str) -> str:
    """``text`` as a regular expression that matches it literally, in both MongoDB's
    (PCRE) and FerretDB's (Go RE2) dialects: only their metacharacters are escaped,
    since RE2 refuses an escaped letter, digit or space."""
    return "".join(f"\\{c}" if c in _REGEX_SPECIALS else c for c in text)
