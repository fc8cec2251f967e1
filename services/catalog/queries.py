"""Reading the catalog, for the gateway (read-only)."""

from __future__ import annotations

from uuid import UUID

from services.catalog.models import CatalogEntry


async def find_document(document_id: UUID, owner: str) -> CatalogEntry | None:
    """The entry of one document, or None if there is none or ``owner`` does not own it."""
    return await CatalogEntry.find_one(
        CatalogEntry.id == document_id,
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
