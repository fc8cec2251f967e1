"""Blobs as files in a local folder, addressed by ``file://`` URLs."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote, urlsplit
from uuid import UUID

import aiofiles
import aiofiles.os

from services.storage.base import BlobNotFoundError


class LocalStorage:
    """Each document's bytes in ``<root>/<first two hex digits>/<document id>``.

    A write goes to a ``.part`` file renamed into place when complete, so a
    reader never sees half a file and an aborted upload leaves nothing.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, document_id: UUID) -> Path:
        return self.root / document_id.hex[:2] / str(document_id)

    def url_for(self, document_id: UUID) -> str:
        return self._path(document_id).as_uri()

    def _path_of(self, url: str) -> Path:
        parts = urlsplit(url)
        path = Path(unquote(parts.path)).resolve()
        if parts.scheme != "file" or not path.is_relative_to(self.root):
            msg = f"{url!r} is not in this storage ({self.root})"
            raise ValueError(msg)
        return path

    async def write(self, document_id: UUID, chunks: AsyncIterator[bytes]) -> tuple[str, int]:
        path = self._path(document_id)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        size = 0
        try:
            async with aiofiles.open(partial, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    await out.write(chunk)
                await out.flush()
                await asyncio.to_thread(os.fsync, out.fileno())
            await aiofiles.os.replace(partial, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                await aiofiles.os.remove(partial)
            raise
        return path.as_uri(), size

    async def read(self, url: str) -> bytes:
        try:
            async with aiofiles.open(self._path_of(url), "rb") as source:
                return await source.read()
        except FileNotFoundError as exc:
            raise BlobNotFoundError(url) from exc

    async def delete(self, url: str) -> bool:
        try:
            await aiofiles.os.remove(self._path_of(url))
        except FileNotFoundError:
            return False
        return True
