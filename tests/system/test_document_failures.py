"""No document left behind: every way the inspection can fail for good ends in
``DocumentFailed``, so the document is ``failed``, its quota released, its bytes deleted
and its owner mailed once, through every real service.

One test per failure path: the inspection job runs out of tries, runs out of time, or
meets a file it may not read; or the inspector gives up on the reservation itself
(poison). The inspector runs with short retries and timeouts (its own settings), and
reads the blob folder through :class:`InspectorStorage`, which adds the fault: the
gateway stores and deletes the bytes in the same folder, unchanged.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal
from uuid import UUID

import pytest
from aiosmtpd.controller import Controller

from bus import BusSettings, Envelope, Publisher, Service
from bus.journal import JournalEntry
from services import accounts, catalog, gateway, inspector, journal, notifier
from services.accounts import AccountsReader
from services.gateway import GatewaySettings
from services.inspector import InspectorSettings
from services.notifier import NotifierSettings
from services.storage import LocalStorage
from tests.faults.conftest import PrivateStack, free_port
from tests.helpers import eventually
from tests.system.conftest import SAMPLES, UPLOAD_LIMIT, Inbox, Pipeline, quiet
from tests.system.test_forged_events import journaled

pytestmark = pytest.mark.timeout(180)

Fault = Literal["down", "stalled", "denied"] | None

ATTEMPTS = 2
TIMEOUT = 0.5


class InspectorStorage(LocalStorage):
    """The blob folder as the inspector reads it, with a fault on every read.

    ``down``: the storage does not answer (a retryable error); ``stalled``: a read never
    ends; ``denied``: the OS refuses the file (EACCES, as a file of another user would be:
    these tests run as root, whom no permission stops).
    """

    def __init__(self, root: Path, fault: Fault) -> None:
        super().__init__(root)
        self.fault = fault
        self.reads = 0

    async def read(self, url: str) -> bytes:
        self.reads += 1
        if self.fault == "down":
            raise ConnectionError("the storage is not answering")
        if self.fault == "stalled":
            await asyncio.Event().wait()
        if self.fault == "denied":
            raise PermissionError(errno.EACCES, "Permission denied", url)
        return await super().read(url)


@asynccontextmanager
async def system(
    settings: BusSettings,
    unique: Callable[[str], str],
    tmp_path: Path,
    *,
    fault: Fault,
    work: bool = True,
) -> AsyncIterator[tuple[Pipeline, InspectorStorage, Callable[[str], Service]]]:
    """The reference system as ``tests/system/conftest.py`` runs it, with the inspector's
    settings and storage of these tests (``work=False``: no inspection job runs). Yields
    the pipeline, the inspector's storage, and a maker of another inspector replica."""
    stack = PrivateStack(tmp_path / "stack")
    await stack.up("mosquitto")
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    settings = settings.model_copy(update={"mqtt_url": stack.url("mosquitto")})
    blobs = tmp_path / "blobs"
    storage = LocalStorage(blobs)
    reading = InspectorStorage(blobs, fault)
    checks = InspectorSettings(job_attempts=ATTEMPTS, job_timeout=TIMEOUT, job_retry_delay=0.05)
    inspector_name = unique("inspector")

    def inspector_replica(instance: str) -> Service:
        replica = settings.model_copy(update={"instance": instance})
        return inspector.create_service(inspector_name, replica, checks, storage=reading)

    mail = NotifierSettings(smtp_host="127.0.0.1", smtp_port=smtp.port)
    api = GatewaySettings(port=0, max_upload_bytes=UPLOAD_LIMIT, poll_interval=0.1)
    front = gateway.create_service(unique("gateway"), settings, api, storage=storage)
    started: list[tuple[Service, bool]] = [
        (journal.create_service(unique("journal"), settings), False),
        (accounts.create_service(unique("accounts"), settings), False),
        (inspector_replica("a"), work),
        (inspector_replica("b"), work),
        (catalog.create_service(unique("catalog"), settings), False),
        (notifier.create_service(unique("notifier"), settings, mail), False),
        (front, False),
    ]
    running: list[Service] = []
    try:
        for service, works in started:
            running.append(service)
            await service.start(work=works)
        yield Pipeline(settings, blobs, inbox, front, running), reading, inspector_replica
    finally:
        for service in reversed(running):
            await service.stop()
        await asyncio.to_thread(smtp.stop)
        await stack.down()


async def upload(pipeline: Pipeline, email: str) -> tuple[accounts.NewUser, str, UUID]:
    """A new user's ``english.txt``, uploaded: the user, their token, the document id."""
    user, token = await pipeline.user(email, max_documents=5)
    async with pipeline.client(token) as http:
        data = (SAMPLES / "english.txt").read_bytes()
        answer = await http.post("/documents", files={"file": ("english.txt", data, "text/plain")})
    assert answer.status_code == 202, answer.text
    return user, token, UUID(answer.json()["document_id"])


async def left_nothing_behind(
    pipeline: Pipeline, user: accounts.NewUser, token: str, document_id: UUID
) -> str:
    """The document is failed, its quota released, its bytes deleted, its owner mailed
    once, and each of those happened once; returns the reason it failed."""
    async with pipeline.client(token) as http:
        for _ in range(60):
            answer = await http.get(f"/documents/{document_id}", params={"wait": 1})
            if answer.json()["status"] in {"ready", "failed", "rejected"}:
                break
    document = answer.json()
    assert document["status"] == "failed", document

    async with AccountsReader(pipeline.settings.postgres_url) as reader:

        async def released() -> bool:
            quota = await reader.quota(user.user_id)
            return quota is not None and (quota.documents_used, quota.bytes_used) == (0, 0)

        await eventually(released, what="the reserved quota to be released")
    await eventually(lambda: not pipeline.stored_blobs(), what="the bytes to be deleted")
    await eventually(lambda: bool(pipeline.inbox.about(document_id)), what="the failure mail")
    await quiet(pipeline)

    [mail] = pipeline.inbox.about(document_id)
    assert mail["To"] == user.email
    assert "english.txt" in str(mail["Subject"])
    # The journal keeps one entry per event id: a repeat under the same id is one entry.
    for once in (
        "documents.failed.v1", "accounts.quota_released.v1", "documents.content_deleted.v1",
        "notifications.sent.v1",
    ):  # fmt: skip
        assert len(await journaled(document_id, once)) == 1, once
    return str(document["reason"])


async def test_an_inspection_out_of_tries_fails_the_document(
    pg_settings: BusSettings, unique: Callable[[str], str], tmp_path: Path
) -> None:
    async with system(pg_settings, unique, tmp_path, fault="down") as (pipeline, reading, _):
        user, token, document_id = await upload(pipeline, "ann@example.com")
        reason = await left_nothing_behind(pipeline, user, token, document_id)
        assert reading.reads == ATTEMPTS
        assert "ConnectionError: the storage is not answering" in reason
        assert len(await journaled(document_id, "jobs.failed.v1")) == 1


async def test_an_inspection_out_of_time_fails_the_document(
    pg_settings: BusSettings, unique: Callable[[str], str], tmp_path: Path
) -> None:
    async with system(pg_settings, unique, tmp_path, fault="stalled") as (pipeline, reading, _):
        user, token, document_id = await upload(pipeline, "ben@example.com")
        reason = await left_nothing_behind(pipeline, user, token, document_id)
        assert reading.reads == ATTEMPTS
        assert f"took longer than {TIMEOUT:g}s" in reason
        assert len(await journaled(document_id, "jobs.failed.v1")) == 1


async def test_a_stored_file_the_inspector_may_not_read_fails_the_document(
    pg_settings: BusSettings, unique: Callable[[str], str], tmp_path: Path
) -> None:
    # The issue: it ended in jobs.failed.v1 and a dead letter, the document stayed accepted.
    async with system(pg_settings, unique, tmp_path, fault="denied") as (pipeline, reading, _):
        user, token, document_id = await upload(pipeline, "cat@example.com")
        reason = await left_nothing_behind(pipeline, user, token, document_id)
        assert reading.reads == 1  # not tried again: it will not become readable
        assert "Permission denied" in reason
        assert len(await journaled(document_id, "jobs.failed.v1")) == 1


async def test_a_reservation_the_inspector_gives_up_on_fails_the_document(
    pg_settings: BusSettings, unique: Callable[[str], str], tmp_path: Path
) -> None:
    # No inspection runs until the end: the reservation accounts sent queues a job, and
    # the inspector gets a second one for the document that it cannot take (a field it
    # does not know yet, as from a newer accounts): poison, compensated.
    async with system(pg_settings, unique, tmp_path, fault=None, work=False) as (
        pipeline, reading, inspector_replica,
    ):  # fmt: skip
        user, token, document_id = await upload(pipeline, "dan@example.com")

        async def reserved() -> list[JournalEntry]:
            return await journaled(document_id, "accounts.quota_reserved.v1")

        async def was_reserved() -> bool:
            return bool(await reserved())

        await eventually(was_reserved, what="the reservation")
        [sent] = await reserved()
        [accounts_name] = {s.name for s in pipeline.services if s.name.startswith("accounts-")}
        newer = Envelope(
            id=f"newer-{document_id}", source=f"/{accounts_name}/1", type=sent.type,
            data={**sent.envelope["data"], "priority": "high"},
            correlationid=sent.envelope.get("correlationid"),
        )  # fmt: skip
        async with Publisher(source=newer.source, settings=pipeline.settings) as publisher:
            await publisher.publish_envelope(newer)

        # Everything but the queued job is done before quiet() can hold: it waits for jobs.
        async with pipeline.client(token) as http:
            for _ in range(60):
                answer = await http.get(f"/documents/{document_id}", params={"wait": 1})
                if answer.json()["status"] == "failed":
                    break
        assert answer.json()["status"] == "failed", answer.json()
        assert "priority" in answer.json()["reason"]
        await eventually(lambda: not pipeline.stored_blobs(), what="the bytes to be deleted")
        await eventually(lambda: bool(pipeline.inbox.about(document_id)), what="the mail")

        # The queued inspection now runs, finds the bytes gone and fails the document
        # again: the same DocumentFailed id, which every consumer skips.
        assert reading.reads == 0
        late = inspector_replica("w")
        pipeline.services.append(late)
        await late.start(consume=False, work=True)
        await left_nothing_behind(pipeline, user, token, document_id)
        assert reading.reads == 1
        [done] = await journaled(document_id, "jobs.succeeded.v1")
        assert done.envelope["data"]["result"]["outcome"] == "failed"
