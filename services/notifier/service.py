"""The notifier service: mails a document's owner when it is ready, refused or failed.

Consumes: DocumentReady, QuotaExceeded, DocumentFailed.
Produces: NotificationSent.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from bus import BusSettings, Envelope, RetryPolicy, Service
from contracts import DocumentFailed, DocumentReady, NotificationSent, QuotaExceeded
from services.notifier.config import NotifierSettings
from services.notifier.mailer import Mailer, smtp_retry
from services.notifier.templates import Kind, render

log = logging.getLogger("services.notifier")


def create_service(
    name: str = "notifier",
    settings: BusSettings | None = None,
    config: NotifierSettings | None = None,
    *,
    retry: RetryPolicy | None = None,
    mailer: Mailer | None = None,
) -> Service:
    """The notifier: one mail per event to the owner's address, if the event has one.

    A mail server that is down or busy is tried again (``retry``; default: from
    ``config``, see :func:`~services.notifier.mailer.smtp_retry`), then the event
    goes to dead letters. Each mail's Message-ID derives from the event id: a
    mail sent again (the notifier stopped after sending, before the bus recorded
    the event as handled) carries the same one.

    Every setting can change while it runs (``bus config set notifier sender=…``), except
    the SMTP password, which stays in the environment.

    Args:
        name: The service's name.
        settings: The bus connections; default: from the environment.
        config: The mail server; default: from the environment (``NOTIFIER_*``). Changes
            from ``bus config`` are made to this object.
        retry: How often and how far apart to try a mail again.
        mailer: What sends the mail (tests may pass a stand-in).
    """
    config = config or NotifierSettings()
    mailer = mailer or Mailer(config)
    service = Service(
        name,
        settings=settings,
        retry=retry or smtp_retry(config),
        produces=[NotificationSent],
        # All live: the mailer reads ``config`` for each mail (a new SMTP connection each
        # time), and the retry_* keys replace the service's retry policy.
        config=config,
        live=NotifierSettings.model_fields.keys(),
    )

    async def notify(
        kind: Kind,
        envelope: Envelope,
        *,
        document_id: UUID,
        recipient: str | None,
        **values: Any,
    ) -> None:
        if not recipient:
            log.warning(
                "%s: no address to notify about %s (%s, event %s); no mail sent",
                name, document_id, kind, envelope.id,
            )  # fmt: skip
            return
        subject, body = render(kind, document_id=document_id, **values)
        message_id = await mailer.send(
            recipient=recipient, subject=subject, body=body, event_id=envelope.id
        )
        await service.publish(
            NotificationSent(
                document_id=document_id,
                recipient=recipient,
                subject=subject,
                template=kind,
                message_id=message_id,
            )
        )

    @service.on(DocumentReady)
    async def on_document_ready(event: DocumentReady, envelope: Envelope) -> None:
        await notify(
            "document_ready", envelope, document_id=event.document_id,
            recipient=event.owner_email, owner=event.owner, filename=event.filename,
            content_type=event.content_type, language=event.language,
        )  # fmt: skip

    @service.on(QuotaExceeded)
    async def on_quota_exceeded(event: QuotaExceeded, envelope: Envelope) -> None:
        await notify(
            "quota_exceeded", envelope, document_id=event.document_id,
            recipient=event.owner_email, owner=event.owner, filename=event.filename,
            reason=event.reason,
        )  # fmt: skip

    @service.on(DocumentFailed)
    async def on_document_failed(event: DocumentFailed, envelope: Envelope) -> None:
        await notify(
            "document_failed", envelope, document_id=event.document_id,
            recipient=event.owner_email, owner=event.owner, filename=event.filename,
            stage=event.stage, reason=event.reason,
        )  # fmt: skip

    return service


service = create_service()
