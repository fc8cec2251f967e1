"""Reading exports, for the gateway (read-only): by ``key`` and plain equalities, as
FerretDB 1.24 hands them to PostgreSQL (see :mod:`services.catalog.queries`)."""

from __future__ import annotations

from uuid import UUID

from services.exporter.models import ExportRecord


async def find_export(export_id: UUID, owner: str) -> ExportRecord | None:
    """The export, or None if there is none or ``owner`` does not own it."""
    return await ExportRecord.find_one({"key": str(export_id), "owner": owner})


async def list_exports(owner: str, limit: int = 50) -> list[ExportRecord]:
    """The owner's exports, newest first."""
    return (
        await ExportRecord.find({"owner": owner})
        .sort(-ExportRecord.created_at)  # type: ignore[operator]
        .limit(limit)
        .to_list()
    )
