"""The notifier service: mails a document's owner when it is ready, refused or failed.

Consumes: DocumentReady, QuotaExceeded, DocumentFailed.
Produces: NotificationSent.

Whom to mail and what about comes from the catalog and accounts, not from the event
(see :mod:`services.notifier.owners`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final
from uuid import UUID

from bus import BusSettings, Envelope, RetryPolicy, Service
from contracts import DocumentFailed, DocumentReady, NotificationSent, QuotaExceeded
from services.catalog import CatalogEntry, CatalogEntryBase
from services.notifier.config import NotifierSettings
from services.notifier.mailer import Mailer, smtp_retry
from services.notifier.owners import (
    Owners,
    Records,
    RefusedEventError,
    document_values,
    locale_of,
    verified,
)
from services.notifier.templates import Kind, render

log = logging.getLogger("services.notifier")

CATALOG_POLL: Final = 0.1
"""Seconds between looks at the catalog while waiting for it to agree with an event."""


def create_service(
    name: str = "notifier",
    settings: BusSettings | None = None,
    config: NotifierSettings | None = None,
    *,
    retry: RetryPolicy | None = None,
    mailer: Mailer | None = None,
    owners: Owners | None = None,
) -> Service:
    """The notifier: one mail per event to the address of the document owner's account.

    The owner, the file and the language come from the catalog's entry of the document
    (the language the upload negotiated; English if it has none), the address from
    accounts; an event the catalog contradicts (no upload of the document, another
    owner, another outcome) is refused and dead-lettered, and nothing is mailed (see
    :mod:`services.notifier.owners`). An event may reach the notifier before the catalog
    has recorded the upload: it waits up to ``config.catalog_wait`` seconds for it.

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
        owners: Where documents and addresses are looked up; default: the catalog's read
            model and the accounts database (``settings.postgres_url``, read only).
    """
    config = config or NotifierSettings()
    mailer = mailer or Mailer(config)
    service = Service(
        name,
        settings=settings,
        documents=[CatalogEntry],
        retry=retry or smtp_retry(config),
        produces=[NotificationSent],
        # All live: the mailer reads ``config`` for each mail (a new SMTP connection each
        # time), and the retry_* keys replace the service's retry policy.
        config=config,
        live=NotifierSettings.model_fields.keys(),
    )
    lookup: Owners
    if owners is not None:
        lookup = owners
    else:
        records = lookup = Records()

        @service.on_startup
        async def open_accounts() -> None:
            await records.open(service.settings.postgres_url)

        service.on_shutdown(records.close)

    async def confirmed(kind: Kind, document_id: UUID, owner: str) -> CatalogEntryBase:
        """The catalog's entry once it agrees with the event: the catalog may announce a
        document before its own read model says so, so it is given ``catalog_wait``.

        Raises:
            RefusedEventError: the catalog still disagrees when the wait is over.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config.catalog_wait
        while True:
            entry = await lookup.document(document_id)
            try:
                return verified(kind, document_id, owner, entry)
            except RefusedEventError:
                if loop.time() >= deadline:
                    raise
            await asyncio.sleep(CATALOG_POLL)

    async def notify(
        kind: Kind, envelope: Envelope, *, document_id: UUID, owner: str, **values: Any
    ) -> None:
        entry = await confirmed(kind, document_id, owner)
        assert entry.owner is not None  # verified: the catalog has the upload
        recipient = await lookup.email(entry.owner)
        if not recipient:
            log.warning(
                "%s: no address to notify about %s (%s, event %s); no mail sent",
                name, document_id, kind, envelope.id,
            )  # fmt: skip
            return
        values |= document_values(kind, entry)
        locale = locale_of(entry)
        subject, body = render(kind, locale=locale, document_id=document_id, **values)
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
        await notify("document_ready", envelope, document_id=event.document_id, owner=event.owner)

    @service.on(QuotaExceeded)
    async def on_quota_exceeded(event: QuotaExceeded, envelope: Envelope) -> None:
        await notify(
            "quota_exceeded", envelope, document_id=event.document_id, owner=event.owner,
            reason=event.reason,
        )  # fmt: skip

    @service.on(DocumentFailed)
    async def on_document_failed(event: DocumentFailed, envelope: Envelope) -> None:
        await notify(
            "document_failed", envelope, document_id=event.document_id, owner=event.owner,
            stage=event.stage, reason=event.reason,
        )  # fmt: skip

    return service


service = create_service()
