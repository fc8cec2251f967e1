"""The gateway: the external HTTP API of the document-intake pipeline.

Consumes: QuotaExceeded, DocumentFailed (to delete the stored bytes).
Produces: DocumentUploaded, DocumentContentDeleted, ExportRequested.

It deletes only bytes it stored, for the document the event names, and never those of
a document the catalog has as ready (see ``discard`` in :func:`create_service`).
"""

from __future__ import annotations

import logging
from uuid import UUID

from bus import BusSettings, Service
from bus.http import HttpServer
from contracts import (
    DocumentContentDeleted,
    DocumentFailed,
    DocumentUploaded,
    ExportRequested,
    QuotaExceeded,
)
from services.accounts import AccountsReader
from services.catalog import CatalogEntry, entry_of
from services.exporter import ExportRecord
from services.gateway.api import create_app
from services.gateway.api.protocol import GatewayHttpProtocol
from services.gateway.config import GatewaySettings
from services.gateway.state import Gateway, forget_blob, stored_blob
from services.gateway.tokens import TokenStore
from services.storage import BlobStorage, open_storage

log = logging.getLogger("services.gateway")


class GatewayService(Service):
    """A bus service that also serves the HTTP API while it runs."""

    http: HttpServer | None = None
    gateway: Gateway | None = None


def create_service(
    name: str = "gateway",
    settings: BusSettings | None = None,
    config: GatewaySettings | None = None,
    storage: BlobStorage | None = None,
) -> GatewayService:
    """The gateway: HTTP on ``config.host:port`` once the bus is connected; it reads the
    catalog's and the exporter's read models (MongoDB) and the accounts' keys and quotas
    (PostgreSQL)."""
    config = config or GatewaySettings()
    blobs = storage or open_storage()
    service = GatewayService(
        name,
        settings=settings,
        documents=[CatalogEntry, ExportRecord],
        produces=[DocumentUploaded, DocumentContentDeleted, ExportRequested],
    )

    async def discard(document_id: UUID, url: str, reason: str) -> None:
        """Delete the bytes of a refused or failed document, if they are the ones this
        gateway stored for it (its own record in Redis) and the catalog does not have it
        as ready; anything else is logged and left alone."""
        stores = service.replica.stores
        assert stores is not None
        stored = await stored_blob(stores.redis, document_id)
        if stored is None or stored != url:
            log.warning(
                "%s: not deleting %r for %s (%s): %s", name, url, document_id, reason,
                "no bytes of it are stored here (or they are deleted)" if stored is None
                else f"the bytes stored for it are at {stored!r}",
            )  # fmt: skip
            return
        entry = await entry_of(document_id)
        if entry is not None and entry.status == "ready":
            log.warning("%s: not deleting the bytes of %s (%s): the catalog has it ready",
                        name, document_id, reason)  # fmt: skip
            return
        if await blobs.delete(url):
            log.info("%s: deleted the bytes of %s (%s)", name, document_id, reason)
        await service.publish(
            DocumentContentDeleted(document_id=document_id, storage_url=url, reason=reason)
        )
        # Only now: a run that stops before publishing deletes (nothing) and announces again.
        await forget_blob(stores.redis, document_id)

    @service.on(QuotaExceeded)
    async def on_quota_exceeded(event: QuotaExceeded) -> None:
        await discard(event.document_id, event.storage_url, f"rejected: {event.reason}")

    @service.on(DocumentFailed)
    async def on_document_failed(event: DocumentFailed) -> None:
        await discard(event.document_id, event.storage_url, f"failed: {event.reason}")

    @service.on_started
    async def serve_http() -> None:
        stores = service.replica.stores
        assert stores is not None
        accounts = AccountsReader(service.settings.postgres_url)
        gateway = Gateway(
            service=service, config=config, storage=blobs, redis=stores.redis,
            tokens=TokenStore(stores.redis, config.token_ttl), accounts=accounts,
        )  # fmt: skip
        service.gateway = gateway
        service.http = HttpServer(
            create_app(gateway), config.host, config.port, http=GatewayHttpProtocol
        )
        await service.http.start()
        log.info("%s: HTTP API on %s", name, service.http.url)

    @service.on_stopping
    async def stop_http() -> None:
        if service.http is not None:
            await service.http.stop()
            service.http = None
        if service.gateway is not None:
            await service.gateway.accounts.close()
            service.gateway = None

    return service


service = create_service()
