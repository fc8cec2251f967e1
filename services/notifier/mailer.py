"""Sending one mail through SMTP (aiosmtplib), callable without the bus."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Final

import aiosmtplib

from bus import RetryPolicy
from bus.retry import NO_RETRY
from services.notifier.config import NotifierSettings

log = logging.getLogger("services.notifier")

MESSAGE_ID_DOMAIN: Final = "chorus.localhost"


class MailRejectedError(Exception):
    """The mail server refused the message for good (a 5xx answer): no retry will help."""


def message_id(event_id: str) -> str:
    """The Message-ID of the mail about ``event_id``: the same for every try, so that a
    mail server or client can discard a copy sent again."""
    return f"<{event_id}@{MESSAGE_ID_DOMAIN}>"


def smtp_retry(config: NotifierSettings) -> RetryPolicy:
    """Retry what an unreachable or busy mail server causes; give up on a refusal."""
    return RetryPolicy(
        attempts=config.retry_attempts,
        initial_delay=config.retry_initial_delay,
        max_delay=max(config.retry_max_delay, config.retry_initial_delay),
        retry_on=(aiosmtplib.SMTPException, OSError, TimeoutError),
        give_up_on=(*NO_RETRY.give_up_on, MailRejectedError),
    )


class Mailer:
    """Composes and sends plain-text mail from ``config.sender``.

    Example::

        mailer = Mailer(NotifierSettings())
        await mailer.send(
            recipient="alice@example.com", subject="Hello", body="…", event_id=envelope.id
        )
    """

    def __init__(self, config: NotifierSettings) -> None:
        self.config = config

    def compose(self, *, recipient: str, subject: str, body: str, event_id: str) -> EmailMessage:
        """The message, with a Message-ID derived from the triggering event's id.

        Raises:
            ValueError: a header that cannot be (an address or subject with a line break).
        """
        message = EmailMessage()
        message["From"] = self.config.sender
        message["To"] = recipient
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = message_id(event_id)
        message.set_content(body)
        return message

    async def send(self, *, recipient: str, subject: str, body: str, event_id: str) -> str:
        """Compose and send one mail; returns its Message-ID.

        Raises:
            MailRejectedError: the server refused it for good (5xx).
            aiosmtplib.SMTPException, OSError, TimeoutError: worth trying again.
        """
        message = self.compose(recipient=recipient, subject=subject, body=body, event_id=event_id)
        password = self.config.smtp_password
        try:
            await aiosmtplib.send(
                message,
                hostname=self.config.smtp_host,
                port=self.config.smtp_port,
                username=self.config.smtp_username,
                password=password.get_secret_value() if password else None,
                start_tls=self.config.start_tls,
                timeout=self.config.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            if all(_permanent(r.code) for r in exc.recipients):
                raise MailRejectedError(f"{recipient} refused: {exc}") from exc
            raise
        except aiosmtplib.SMTPResponseException as exc:
            if _permanent(exc.code):
                raise MailRejectedError(f"the mail server refused the mail: {exc}") from exc
            raise
        log.info("notifier: mailed %s: %s", recipient, subject)
        return message_id(event_id)


def _permanent(code: int) -> bool:
    return 500 <= code < 600
