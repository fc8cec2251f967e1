"""The storage interface the services depend on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol
from uuid import UUID


class BlobNotFoundError(FileNotFoundError):
    """No blob at that URL (never stored, or deleted)."""


class BlobStorage(Protocol):
    """Bytes by document id, addressed afterwards by the URL that :meth:`write` returns."""

    def url_for(self, document_id: UUID) -> str:
        """The URL a document's bytes get."""
        ...

    async def write(self, document_id: UUID, chunks: AsyncIterator[bytes]) -> tuple[str, int]:
        """Store the chunks; returns (URL, size). A failed write leaves nothing behind."""
        ...

    async def read(self, url: str) -> bytes:
        """All the bytes at ``url``; :class:`BlobNotFoundError` if there are none."""
        ...

    async def delete(self, url: str) -> bool:
        """Delete the bytes at ``url``; False if there were none (already deleted)."""
        ...
