"""Where archives live: in storage's folder, under ``exports/``, beside the documents.

Storage's interface reads a blob whole (:meth:`BlobStorage.read`); an archive streams
from and to files, so the exporter and the gateway turn ``file://`` URLs into paths here,
with storage's own rule: a URL outside its root is refused.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit
from uuid import UUID

from services.storage import BlobStorage, LocalStorage

FOLDER = "exports"
"""The folder of archives inside storage's root."""


def _root(storage: BlobStorage) -> Path:
    if not isinstance(storage, LocalStorage):
        msg = f"exports need a local storage folder, not {type(storage).__name__}"
        raise TypeError(msg)
    return storage.root


def archive_path(storage: BlobStorage, export_id: UUID) -> Path:
    """Where the archive of ``export_id`` is written."""
    return _root(storage) / FOLDER / f"{export_id}.tar.gz"


def local_path(storage: BlobStorage, url: str) -> Path:
    """The file of a ``file://`` URL in ``storage``; ValueError for any other URL."""
    root = _root(storage)
    parts = urlsplit(url)
    path = Path(unquote(parts.path)).resolve()
    if parts.scheme != "file" or not path.is_relative_to(root):
        msg = f"{url!r} is not in this storage ({root})"
        raise ValueError(msg)
    return path


def download_name(export_id: UUID, created: datetime) -> str:
    """The archive's name for its owner, without ``.tar.gz``
    (``chorus-export-20261129-1a2b3c4d``): also the folder its documents are in."""
    return f"chorus-export-{created:%Y%m%d}-{str(export_id)[:8]}"
