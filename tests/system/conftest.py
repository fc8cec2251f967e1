"""The whole document-intake pipeline, each service real, for end-to-end tests.

Every test gets a private Mosquitto (so that services a developer runs with
``make up`` never see its events), its own MongoDB and PostgreSQL databases,
service names of its own in the shared Redis, a blob folder, and a real SMTP
server (aiosmtpd) that collects the mails.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope

from bus import BusSettings, Service
from bus.journal import JournalEntry
from services import accounts, catalog, gateway, inspector, journal, notifier
from services.gateway import GatewaySettings
from services.notifier import NotifierSettings
from services.storage import LocalStorage
from tests.faults.conftest import PrivateStack, free_port
from tests.helpers import eventually, jobs_finished, settled

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
UPLOAD_LIMIT = 256 * 1024


class Inbox:
    """An aiosmtpd handler keeping every mail it is given."""

    def __init__(self) -> None:
        self.mails: list[Message] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.mails.append(message_from_bytes(envelope.content))
        return "250 OK"

    def about(self, document_id: object) -> list[Message]:
        return [m for m in self.mails if str(document_id) in str(m.get_payload())]


@dataclass
class Pipeline:
    """The running services, and what a test needs to look at them."""

    settings: BusSettings
    blobs: Path
    inbox: Inbox
    gateway: gateway.GatewayService
    services: list[Service] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.gateway.http is not None
        return self.gateway.http.url

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60)

    async def user(self, email: str, **quota: Any) -> tuple[accounts.NewUser, str]:
        """A new user and a bearer token for them."""
        user = await accounts.create_user(self.settings.postgres_url, email, **quota)
        async with self.client() as http:
            answer = await http.post("/auth/token", json={"api_key": user.api_key})
        assert answer.status_code == 200, answer.text
        return user, answer.json()["access_token"]

    def stored_blobs(self) -> list[Path]:
        return [p for p in self.blobs.rglob("*") if p.is_file()]


@pytest.fixture
async def pipeline(
    pg_settings: BusSettings,
    unique: Callable[[str], str],
    tmp_path: Path,
) -> AsyncIterator[Pipeline]:
    stack = PrivateStack(tmp_path / "stack")
    await stack.up("mosquitto")
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    settings = pg_settings.model_copy(update={"mqtt_url": stack.url("mosquitto")})
    blobs = tmp_path / "blobs"
    storage = LocalStorage(blobs)

    def replica(instance: str) -> BusSettings:
        return settings.model_copy(update={"instance": instance})

    mail = NotifierSettings(smtp_host="127.0.0.1", smtp_port=smtp.port)
    api = GatewaySettings(port=0, max_upload_bytes=UPLOAD_LIMIT, poll_interval=0.1)
    front = gateway.create_service(unique("gateway"), settings, api, storage=storage)
    started: list[tuple[Service, bool]] = [
        (journal.create_service(unique("journal"), settings), False),
        (accounts.create_service(unique("accounts"), settings), False),
        (inspector.create_service(unique("inspector"), replica("a"), storage=storage), True),
        (inspector.create_service(unique("inspector"), replica("b"), storage=storage), True),
        (catalog.create_service(unique("catalog"), replica("a")), False),
        (catalog.create_service(unique("catalog"), replica("b")), False),
        (notifier.create_service(unique("notifier"), settings, mail), False),
        (front, False),
    ]
    running: list[Service] = []
    try:
        for service, work in started:
            running.append(service)
            await service.start(work=work)
        yield Pipeline(settings, blobs, inbox, front, running)
    finally:
        for service in reversed(running):
            await service.stop()
        await asyncio.to_thread(smtp.stop)
        await stack.down()


async def quiet(pipeline: Pipeline) -> None:
    """Wait until each service has handled every journaled event it consumes (handled,
    skipped as a duplicate or dead-lettered) and every inspection job has ended.

    Everything published is journaled before it is sent (journal first), and a handler
    publishes, or queues a job, before its delivery ends: once this holds, nothing is
    left to happen.
    """
    services = {service.name: service for service in pipeline.services}

    async def done() -> bool:
        types = Counter(entry.type for entry in await JournalEntry.find_all().to_list())
        for name, service in services.items():
            if service.consumes_every_event:
                expected = sum(types.values())
            else:
                expected = sum(types[t.contract.type] for t in service.consumes)
            if settled(name) < expected:
                return False
        return all(jobs_finished(name) for name, s in services.items() if s.jobs)

    await eventually(done, within=60, what="every event handled by every service")
