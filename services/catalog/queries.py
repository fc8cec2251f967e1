"""Reading the catalog, for the gateway and the notifier (read-only).

Entries are looked up by ``key``, the document id as text, never by ``_id``: FerretDB
1.24 on PostgreSQL has PostgreSQL filter on a string, while a UUID (BSON binary) it
filters itself, after reading every entry (see :class:`CatalogEntry`).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from services.catalog.models import CatalogEntry


def entry_filter(document_id: UUID, owner: str | None = None) -> dict[str, Any]:
    """The filter of one document's entry (of ``owner``'s only, if given): plain equalities
    in one document. Beanie would join separate conditions with ``$and``, which FerretDB
    1.24 does not hand to PostgreSQL."""
    found: dict[str, Any] = {"key": str(document_id)}
    if owner is not None:
        found["owner"] = owner
    return found


async def entry_of(document_id: UUID) -> CatalogEntry | None:
    """The entry of one document, whoever owns it, or None if there is none."""
    return await CatalogEntry.find_one(entry_filter(document_id))


async def find_document(document_id: UUID, owner: str) -> CatalogEntry | None:
    """The entry of one document, or None if there is none or ``owner`` does not own it."""
    return await CatalogEntry.find_one(entry_filter(document_id, owner))


async def list_documents(owner: str, limit: int = 50) -> list[CatalogEntry]:
    """The owner's documents, most recently changed first."""
    return (
        await CatalogEntry.find(CatalogEntry.owner == owner)
        .sort(-CatalogEntry.updated_at)  # type: ignore[operator]
        .limit(limit)
        .to_list()
    )
