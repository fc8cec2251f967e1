"""The notifier's templates, mail and handlers, without a broker or a mail server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import aiosmtplib
import jinja2
import pytest

from bus import RetryPolicy, Service
from bus.testing import in_memory
from contracts import DocumentFailed, DocumentReady, NotificationSent, QuotaExceeded
from services.catalog import CatalogEntryBase, Status
from services.notifier import (
    KINDS,
    Mailer,
    MailRejectedError,
    NotifierSettings,
    create_service,
    message_id,
    render,
    smtp_retry,
)

DOC = uuid.UUID("9b2f0b7e-4a51-4c1e-9d57-0f6b5b7a1e11")
FAST = RetryPolicy(
    attempts=4, initial_delay=0.001, max_delay=0.002,
    retry_on=smtp_retry(NotifierSettings()).retry_on,
    give_up_on=smtp_retry(NotifierSettings()).give_up_on,
)  # fmt: skip


def test_the_ready_mail_names_the_file_the_document_and_what_was_found() -> None:
    subject, body = render(
        "document_ready", document_id=DOC, owner="alice", filename="report.pdf",
        content_type="application/pdf", language="de",
    )  # fmt: skip
    assert subject == "Your document report.pdf is ready"
    assert "report.pdf" in body
    assert str(DOC) in body
    assert "application/pdf" in body
    assert "Language:    de" in body
    assert not body.startswith("Subject")

    _, without_language = render(
        "document_ready", document_id=DOC, owner="alice", filename="a.png",
        content_type="image/png", language=None,
    )  # fmt: skip
    assert "Language" not in without_language


@pytest.mark.parametrize(
    ("kind", "extra", "in_subject"),
    [
        ("quota_exceeded", {}, "was not accepted"),
        ("document_failed", {"stage": "inspection"}, "could not be processed"),
    ],
)
def test_refusal_and_failure_mails_give_the_reason(
    kind: str, extra: dict[str, str], in_subject: str
) -> None:
    subject, body = render(
        kind,  # type: ignore[arg-type]
        document_id=DOC, owner="alice", filename="big.bin", reason="quota full: 10 of 10",
        **extra,
    )  # fmt: skip
    assert subject == f"Your document big.bin {in_subject}"
    assert "big.bin" in body
    assert str(DOC) in body
    assert "Reason:      quota full: 10 of 10" in body
    if extra:
        assert "Stage:       inspection" in body


def test_every_kind_has_a_template_that_needs_all_its_values() -> None:
    values: dict[str, Any] = {
        "document_id": DOC, "owner": "a", "filename": "f", "content_type": "text/plain",
        "language": None, "reason": "r", "stage": "s",
    }  # fmt: skip
    for kind in KINDS:
        subject, body = render(kind, **values)
        assert subject
        assert str(DOC) in body
        with pytest.raises(jinja2.UndefinedError):
            render(kind, document_id=DOC)


def test_a_file_name_with_a_line_break_cannot_break_the_subject() -> None:
    subject, body = render(
        "document_ready", document_id=DOC, owner="alice", filename="evil\nBcc: x@y.z",
        content_type="text/plain", language=None,
    )  # fmt: skip
    assert subject == "Your document evil Bcc: x@y.z is ready"
    assert body.startswith("Hello alice,")


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="no mail template"):
        render("birthday", filename="x")  # type: ignore[arg-type]


def test_a_mail_has_its_headers_and_a_message_id_from_the_event() -> None:
    config = NotifierSettings(sender="Chorus <noreply@chorus.localhost>")
    mail = Mailer(config).compose(
        recipient="alice@example.com", subject="Hi", body="Hello\n", event_id="evt-1"
    )
    assert mail["From"] == "Chorus <noreply@chorus.localhost>"
    assert mail["To"] == "alice@example.com"
    assert mail["Subject"] == "Hi"
    assert mail["Message-ID"] == "<evt-1@chorus.localhost>" == message_id("evt-1")
    assert parsedate_to_datetime(mail["Date"]).tzinfo is not None
    assert mail.get_content() == "Hello\n"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_SMTP_HOST", "mail.example.com")
    monkeypatch.setenv("NOTIFIER_SMTP_PORT", "587")
    monkeypatch.setenv("NOTIFIER_SMTP_PASSWORD", "hunter2")
    monkeypatch.setenv("NOTIFIER_START_TLS", "true")
    config = NotifierSettings()
    assert (config.smtp_host, config.smtp_port, config.start_tls) == ("mail.example.com", 587, True)
    assert config.smtp_password is not None
    assert config.smtp_password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(config)
    assert NotifierSettings.model_fields["smtp_port"].default == 1025


def test_an_unreachable_or_busy_server_is_worth_a_retry_a_refusal_is_not() -> None:
    policy = smtp_retry(NotifierSettings(retry_attempts=3))
    assert policy.attempts == 3
    for transient in (
        aiosmtplib.SMTPConnectError("refused"),
        aiosmtplib.SMTPServerDisconnected("gone"),
        aiosmtplib.SMTPResponseException(451, "try later"),
        ConnectionRefusedError(),
        TimeoutError(),
    ):
        assert policy.is_retryable(transient), transient
    for permanent in (MailRejectedError("550"), ValueError("bad header"), RuntimeError("bug")):
        assert not policy.is_retryable(permanent), permanent


def test_a_retry_policy_given_to_the_service_replaces_the_configured_one() -> None:
    policy = RetryPolicy(attempts=2, initial_delay=0.01, max_delay=0.01)
    assert create_service("notifier-unit", config=NotifierSettings(), retry=policy).retry is policy
    configured = NotifierSettings(retry_attempts=3)
    assert create_service("notifier-unit", config=configured).retry == smtp_retry(configured)


class FakeMailer(Mailer):
    """Records mail instead of sending it; fails the first ``failures`` tries."""

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        super().__init__(NotifierSettings())
        self.failures = failures
        self.error = error or ConnectionRefusedError("no server")
        self.tries = 0
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, *, recipient: str, subject: str, body: str, event_id: str) -> str:
        self.tries += 1
        if self.tries <= self.failures:
            raise self.error
        self.sent.append((recipient, subject, event_id))
        return message_id(event_id)


REFUSED = uuid.UUID("2c1d7e4a-0b3f-4a6e-8d2c-9f1e0a7b6c5d")
FAILED = uuid.UUID("6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d")


class Records:
    """The catalog and accounts as the notifier sees them: a ready document of alice's,
    a refused one of bob's, a failing one of carol's; dave has no address."""

    documents: ClassVar[dict[uuid.UUID, tuple[str, str, Status]]] = {
        DOC: ("alice", "report.pdf", "ready"),
        REFUSED: ("bob", "big.bin", "uploaded"),
        FAILED: ("carol", "x.pdf", "inspecting"),
    }
    emails: ClassVar[dict[str, str]] = {
        "alice": "alice@example.com", "bob": "bob@example.com", "carol": "carol@example.com",
    }  # fmt: skip

    def __init__(self, *, without_address: bool = False) -> None:
        self.without_address = without_address

    async def document(self, document_id: uuid.UUID) -> CatalogEntryBase | None:
        owner, filename, status = self.documents[document_id]
        return CatalogEntryBase(
            id=document_id, owner=owner, filename=filename, status=status,
            inspection={"content_type": "application/pdf", "language": "en"},
            created_at=datetime.now(UTC), updated_at=datetime.now(UTC),
        )  # fmt: skip

    async def email(self, owner: str) -> str | None:
        return None if self.without_address else self.emails.get(owner)


def notifier(mailer: Mailer, *, without_address: bool = False) -> Service:
    records = Records(without_address=without_address)
    return create_service("notifier-unit", mailer=mailer, retry=FAST, owners=records)


def ready() -> DocumentReady:
    return DocumentReady(
        document_id=DOC, owner="alice", owner_email="someone@example.com", filename="x",
        content_type="application/pdf", language="en",
    )  # fmt: skip


async def test_each_event_mails_the_owner_and_reports_it() -> None:
    mailer = FakeMailer()
    service = notifier(mailer)
    refused = QuotaExceeded(
        document_id=REFUSED, owner="bob", owner_email=None, filename="big.bin",
        size_bytes=10, storage_url="file:///x", reason="quota full",
    )  # fmt: skip
    failed = DocumentFailed(
        document_id=FAILED, owner="carol", owner_email=None, filename="x.pdf",
        storage_url="file:///x", stage="inspection", reason="broken",
    )  # fmt: skip
    async with in_memory(service) as bus:
        envelopes = [await bus.publish(event) for event in (ready(), refused, failed)]

    assert [(to, event_id) for to, _, event_id in mailer.sent] == [
        ("alice@example.com", envelopes[0].id),
        ("bob@example.com", envelopes[1].id),
        ("carol@example.com", envelopes[2].id),
    ]
    sent = [NotificationSent.model_validate(e.data) for e in bus.of_type(NotificationSent)]
    assert [(n.template, n.recipient) for n in sent] == [
        ("document_ready", "alice@example.com"),
        ("quota_exceeded", "bob@example.com"),
        ("document_failed", "carol@example.com"),
    ]
    assert [n.message_id for n in sent] == [f"<{e.id}@chorus.localhost>" for e in envelopes]
    assert sent[1].subject == "Your document big.bin was not accepted"
    assert [e.causationid for e in bus.of_type(NotificationSent)] == [e.id for e in envelopes]
    assert bus.dead_letters.letters == {}


async def test_no_address_means_no_mail_and_no_error(caplog: pytest.LogCaptureFixture) -> None:
    mailer = FakeMailer()
    service = notifier(mailer, without_address=True)
    async with in_memory(service) as bus:
        await bus.publish(ready())

    assert mailer.tries == 0
    assert bus.of_type(NotificationSent) == []
    assert bus.dead_letters.letters == {}
    assert any("no address" in r.getMessage() for r in caplog.records)


async def test_a_server_that_is_down_for_a_while_gets_the_mail_on_a_retry() -> None:
    mailer = FakeMailer(failures=2)
    service = notifier(mailer)
    async with in_memory(service) as bus:
        await bus.publish(ready())

    assert mailer.tries == 3
    assert len(mailer.sent) == 1
    assert len(bus.of_type(NotificationSent)) == 1
    assert bus.dead_letters.letters == {}


async def test_a_refused_mail_is_dead_lettered_at_once() -> None:
    mailer = FakeMailer(failures=99, error=MailRejectedError("550 no such user"))
    service = notifier(mailer)
    async with in_memory(service) as bus:
        await bus.publish(ready())

    assert mailer.tries == 1
    [letter] = bus.dead_letters.letters.values()
    assert letter.attempts == 1
    assert "550 no such user" in letter.reason
    assert bus.of_type(NotificationSent) == []


async def test_a_server_down_for_good_dead_letters_after_the_last_attempt() -> None:
    mailer = FakeMailer(failures=99)
    service = notifier(mailer)
    async with in_memory(service) as bus:
        await bus.publish(ready())

    assert mailer.tries == FAST.attempts
    [letter] = bus.dead_letters.letters.values()
    assert letter.attempts == FAST.attempts
    assert bus.of_type(NotificationSent) == []
