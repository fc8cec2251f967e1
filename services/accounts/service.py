"""The accounts service. Consumes: DocumentUploaded, DocumentFailed. Produces: QuotaReserved, QuotaExceeded, QuotaReleased."""  # noqa: E501 - the one line that says what flows in and out

from __future__ import annotations

import logging
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bus import BusNotStartedError, BusSettings, Envelope, Service
from bus.jobs import JobContext
from contracts import DocumentFailed, DocumentUploaded, QuotaExceeded, QuotaReleased, QuotaReserved
from services.accounts.answers import answer_queries
from services.accounts.config import AccountsSettings
from services.accounts.db import create_engine, create_tables, session_maker
from services.accounts.quota import Exceeded, release, reserve
from services.accounts.reconcile import reconcile

log = logging.getLogger("services.accounts")

LIVE: Final = frozenset({"default_max_documents", "default_max_bytes"})
"""Settings that change while the service runs; ``pool_size`` sizes the engine it opens at start."""


class _Database:
    """The service's engine, open between its startup and shutdown hooks."""

    def __init__(self, postgres_url: str, config: AccountsSettings) -> None:
        self.postgres_url = postgres_url
        self.config = config
        self.engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    async def open(self) -> None:
        self.engine = create_engine(self.postgres_url, pool_size=self.config.pool_size)
        await create_tables(self.engine)
        self._sessions = session_maker(self.engine)

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
        self.engine = self._sessions = None

    def session(self) -> AsyncSession:
        if self._sessions is None:
            raise BusNotStartedError("the accounts database is not open")
        return self._sessions()


def create_service(
    name: str = "accounts",
    settings: BusSettings | None = None,
    config: AccountsSettings | None = None,
) -> Service:
    """The accounts service: each uploaded document reserves quota, each failed one gives it back.

    Reserving is idempotent per document (see :mod:`services.accounts.quota`), and
    what a handler publishes gets ids derived from the handled event, so a handler
    that runs again on a redelivered event republishes the same events, which
    consumers skip.

    Args:
        name: The service's name on the bus.
        settings: Connections (``postgres_url`` among them); default: from the environment.
        config: The accounts settings; default: from the environment (``ACCOUNTS_…``).
            ``bus config set accounts default_max_documents=…`` changes the default
            quotas in this object live (``service.config``: pass it to
            :func:`~services.accounts.keys.create_user` in the same process);
            ``pool_size`` takes a restart.
    """
    config = config or AccountsSettings()
    service = Service(
        name,
        settings=settings,
        produces=[QuotaReserved, QuotaExceeded, QuotaReleased],
        config=config,
        live=LIVE,
    )
    database = _Database(service.settings.postgres_url, config)
    service.on_startup(database.open)
    service.on_shutdown(database.close)

    @service.on(DocumentUploaded)
    async def on_document_uploaded(event: DocumentUploaded, envelope: Envelope) -> None:
        async with database.session() as session:
            outcome = await reserve(
                session, owner=event.owner, document_id=event.document_id,
                size_bytes=event.size_bytes, event_id=envelope.id,
            )  # fmt: skip
        if isinstance(outcome, Exceeded):
            log.info("quota refused for document %s: %s", event.document_id, outcome.reason)
            refused = QuotaExceeded(
                document_id=event.document_id, owner=event.owner,
                owner_email=event.owner_email or outcome.email, filename=event.filename,
                size_bytes=event.size_bytes, storage_url=event.storage_url, reason=outcome.reason,
            )  # fmt: skip
            await service.publish(refused)
            return
        reserved = QuotaReserved(
            document_id=event.document_id, owner=event.owner,
            owner_email=event.owner_email or outcome.email, filename=event.filename,
            size_bytes=outcome.size_bytes, content_type=event.content_type,
            storage_url=event.storage_url, documents_used=outcome.documents_used,
            bytes_used=outcome.bytes_used,
        )  # fmt: skip
        await service.publish(reserved)

    @service.on(DocumentFailed)
    async def on_document_failed(event: DocumentFailed, envelope: Envelope) -> None:
        async with database.session() as session:
            released = await release(session, document_id=event.document_id, event_id=envelope.id)
        if released is None:
            log.debug("document %s had no quota to give back", event.document_id)
            return
        given_back = QuotaReleased(
            document_id=event.document_id, owner=event.owner, size_bytes=released.size_bytes,
            documents_used=released.documents_used, bytes_used=released.bytes_used,
        )  # fmt: skip
        await service.publish(given_back)

    @service.cron(config.reconcile_schedule, timeout=600)
    async def reconcile_quotas(job: JobContext, tick: str) -> dict[str, int]:
        """Set each quota's totals back to its ledger's (:mod:`services.accounts.reconcile`)."""
        async with database.session() as session:
            corrections = await reconcile(session)
        return {"corrected": len(corrections)}

    answer_queries(service, database.session)  # request/reply: services/accounts/answers.py
    return service


service = create_service()
