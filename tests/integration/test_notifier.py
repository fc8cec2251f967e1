"""The notifier through the real broker, mailing a real SMTP server run by the test."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, cast

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope

from bus import BusSettings, Publisher, Service
from bus.deadletters import StoredDeadLetter
from bus.journal import JournalEntry
from contracts import DocumentFailed, DocumentReady, NotificationSent, QuotaExceeded
from services.catalog import CatalogEntryBase, Status
from services.notifier import (
    Mailer,
    MailRejectedError,
    NotifierSettings,
    create_service,
    smtp_retry,
)
from tests.helpers import eventually, settled


class Inbox:
    """An SMTP server on a free local port that keeps every mail it receives."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.mail: list[tuple[list[str], EmailMessage]] = []
        self.rcpt_answer = "250 OK"
        self._controller: Controller | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: SmtpEnvelope, address: str, options: Any
    ) -> str:
        if self.rcpt_answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.rcpt_answer

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        content = cast(bytes, envelope.content)
        message = email.message_from_bytes(content, policy=email.policy.default)
        self.mail.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    async def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        await asyncio.to_thread(self._controller.start)

    async def stop(self) -> None:
        if self._controller is not None:
            await asyncio.to_thread(self._controller.stop)
            self._controller = None

    def to(self, address: str) -> list[EmailMessage]:
        return [message for recipients, message in self.mail if address in recipients]


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    """A mail server, not yet started."""
    server = Inbox()
    yield server
    await server.stop()


CATALOG: dict[uuid.UUID, tuple[str, str, Status]] = {}
"""The documents the events below are about, as the catalog has them: owner, file, status."""


class Records:
    """The catalog (``CATALOG``) and accounts as the notifier sees them: an owner that
    looks like an address is its own address; any other has none. The lookup against the
    real catalog and accounts runs in ``tests/system``."""

    async def document(self, document_id: uuid.UUID) -> CatalogEntryBase | None:
        if document_id not in CATALOG:
            return None
        owner, filename, status = CATALOG[document_id]
        now = datetime.now(UTC)
        return CatalogEntryBase(
            id=document_id, owner=owner, filename=filename, status=status,
            inspection={"content_type": "application/pdf", "language": "en"},
            created_at=now, updated_at=now,
        )  # fmt: skip

    async def email(self, owner: str) -> str | None:
        return owner if "@" in owner else None


def notifier(
    name: str, settings: BusSettings, inbox: Inbox, **config: Any
) -> tuple[Service, NotifierSettings]:
    mail = NotifierSettings(smtp_host="127.0.0.1", smtp_port=inbox.port, timeout=5, **config)
    return create_service(name, settings, mail, owners=Records()), mail


def catalogued(owner: str, filename: str, status: Status) -> uuid.UUID:
    document_id = uuid.uuid4()
    CATALOG[document_id] = (owner, filename, status)
    return document_id


def ready(email: str | None, filename: str = "report.pdf") -> DocumentReady:
    owner = email or "alice"
    return DocumentReady(
        document_id=catalogued(owner, filename, "ready"), owner=owner, filename=filename,
        content_type="application/pdf", language="en",
    )  # fmt: skip


def refused(email: str | None) -> QuotaExceeded:
    owner = email or "bob"
    return QuotaExceeded(
        document_id=catalogued(owner, "big.bin", "uploaded"), owner=owner, filename="big.bin",
        size_bytes=10**9, storage_url="file:///tmp/big.bin", reason="quota full: 1 GB of 1 GB",
    )  # fmt: skip


def failed(email: str | None) -> DocumentFailed:
    owner = email or "carol"
    return DocumentFailed(
        document_id=catalogued(owner, "scan.pdf", "inspecting"), owner=owner,
        filename="scan.pdf", storage_url="file:///tmp/scan.pdf", stage="inspection",
        reason="not a PDF after all",
    )  # fmt: skip


async def notifications() -> list[NotificationSent]:
    entries = await JournalEntry.find(JournalEntry.type == NotificationSent.contract.type).to_list()
    return [NotificationSent.model_validate(e.envelope["data"]) for e in entries]


async def dead_letters(service: Service) -> int:
    return await StoredDeadLetter.find(StoredDeadLetter.service == service.name).count()


async def test_one_mail_per_event_even_when_an_event_arrives_twice(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str], inbox: Inbox
) -> None:
    await inbox.start()
    service, _ = notifier(unique("notifier"), settings, inbox)
    services.append(service)
    await service.start()

    async with Publisher(settings=settings) as publisher:
        first = await publisher.publish(ready("alice@example.com"))
        bob = await publisher.publish(refused("bob@example.com"))
        carol = await publisher.publish(failed("carol@example.com"))
        await publisher.publish_envelope(first)  # a redelivery
        # One consumer handles a topic in order: once this one is mailed, so was the copy.
        last = await publisher.publish(ready("dave@example.com", filename="last.txt"))

    await eventually(lambda: len(inbox.mail) >= 4, what="four mails")
    await eventually(lambda: len(inbox.to("dave@example.com")) == 1, what="the last mail")
    # Each of the five deliveries ended: a mail for the copy would have been sent by then.
    await eventually(lambda: settled(service.name) >= 5, what="all five deliveries to end")
    assert len(inbox.mail) == 4

    expected = {
        "alice@example.com": (first, "Your document report.pdf is ready"),
        "bob@example.com": (bob, "Your document big.bin was not accepted"),
        "carol@example.com": (carol, "Your document scan.pdf could not be processed"),
        "dave@example.com": (last, "Your document last.txt is ready"),
    }
    for address, (envelope, subject) in expected.items():
        [mail] = inbox.to(address)
        assert mail["To"] == address
        assert mail["From"] == "Chorus <noreply@chorus.localhost>"
        assert mail["Subject"] == subject
        assert mail["Message-ID"] == f"<{envelope.id}@chorus.localhost>"
        assert str(envelope.data["document_id"]) in mail.get_content()
    assert "quota full: 1 GB of 1 GB" in inbox.to("bob@example.com")[0].get_content()
    assert "not a PDF after all" in inbox.to("carol@example.com")[0].get_content()

    await eventually(lambda: _count(notifications(), 4), what="four NotificationSent")
    sent = {n.recipient: n for n in await notifications()}
    assert set(sent) == set(expected)
    assert sent["bob@example.com"].template == "quota_exceeded"
    assert sent["bob@example.com"].message_id == f"<{bob.id}@chorus.localhost>"
    assert sent["carol@example.com"].subject == expected["carol@example.com"][1]
    assert await dead_letters(service) == 0


async def test_a_mail_server_that_comes_up_late_gets_the_mail_on_a_retry(
    settings: BusSettings,
    services: list[Service],
    unique: Callable[[str], str],
    inbox: Inbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Nothing listens on the inbox's port yet.
    service, _ = notifier(
        unique("notifier"), settings, inbox,
        retry_attempts=60, retry_initial_delay=0.05, retry_max_delay=0.2,
    )  # fmt: skip
    services.append(service)
    await service.start()

    async with Publisher(settings=settings) as publisher:
        sent = await publisher.publish(failed("carol@example.com"))

    def retried() -> bool:
        return any("retrying" in r.getMessage() for r in caplog.records)

    await eventually(retried, what="a failed attempt to reach the mail server")
    await inbox.start()

    await eventually(lambda: len(inbox.mail) == 1, what="the mail, once the server is up")
    [mail] = inbox.to("carol@example.com")
    assert mail["Message-ID"] == f"<{sent.id}@chorus.localhost>"
    await eventually(lambda: _count(notifications(), 1), what="NotificationSent")
    assert await dead_letters(service) == 0


async def test_no_owner_address_means_no_mail_no_error_and_no_dead_letter(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str], inbox: Inbox
) -> None:
    await inbox.start()
    service, _ = notifier(unique("notifier"), settings, inbox)
    services.append(service)
    await service.start()

    async with Publisher(settings=settings) as publisher:
        for event in (ready(None), refused(None), failed(None)):
            await publisher.publish(event)
        # The same topics again, with an address: once these are mailed, the others were seen.
        for event in (ready("a@example.com"), refused("b@example.com"), failed("c@example.com")):
            await publisher.publish(event)

    await eventually(lambda: len(inbox.mail) == 3, what="the three mails with an address")
    await eventually(lambda: settled(service.name) >= 6, what="all six deliveries to end")
    assert sorted(to for recipients, _ in inbox.mail for to in recipients) == [
        "a@example.com", "b@example.com", "c@example.com",
    ]  # fmt: skip
    await eventually(lambda: _count(notifications(), 3), what="three NotificationSent")
    assert await dead_letters(service) == 0


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("550 5.1.1 no such user", MailRejectedError),
        ("451 4.3.0 try again later", aiosmtplib.SMTPRecipientsRefused),
    ],
)
async def test_the_mailer_tells_a_refusal_from_a_temporary_error(
    inbox: Inbox, answer: str, error: type[Exception]
) -> None:
    await inbox.start()
    inbox.rcpt_answer = answer
    mailer = Mailer(NotifierSettings(smtp_host="127.0.0.1", smtp_port=inbox.port, timeout=5))
    policy = smtp_retry(mailer.config)
    with pytest.raises(error) as raised:
        await mailer.send(recipient="x@example.com", subject="s", body="b", event_id="e")
    assert policy.is_retryable(raised.value) == (error is not MailRejectedError)
    assert inbox.mail == []


async def _count(pending: Any, n: int) -> bool:
    return len(await pending) == n
