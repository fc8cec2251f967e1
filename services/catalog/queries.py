"""Reading the catalog, for the gateway and the notifier (read-only).

Entries are looked up by ``key``, the document id as text, never by ``_id``: FerretDB
1.24 on PostgreSQL has PostgreSQL filter on a string, while a UUID (BSON binary) it
filters itself, after reading every entry (see :class:`CatalogEntry`).
"""

from __future__ import annotations

from uuid import UUID

from services.catalog.models import CatalogEntry


async def entry_of(document_id: UUID) -> CatalogEntry | None:
    """The entry of one document, whoever owns it, or None if there is none."""
    return await CatalogEntry.find_one(CatalogEntry.key == str(document_id))


async def find_document(document_id: UUID, owner: str) -> CatalogEntry | None:
    """The entry of one document, or None if there is none or ``owner`` does not own it."""
    return await CatalogEntry.find_one(
        CatalogEntry.key == str(document_id),
        CatalogEntry.owner == owner,
    )


async def list_documents(owner: str, limit: int = 50) -> list[CatalogEntry]:
    """The owner's documents, most recently changed first."""
    return (
        await CatalogEntry.find(CatalogEntry.owner == owner)
        .sort(-CatalogEntry.updated_at)  # type: ignore[operator]
        .limit(limit)
        .to_list()
    )
