"""Where uploaded bytes live: a small interface and a local-folder implementation.

The gateway writes and deletes; the inspector reads. Both address a blob by
the ``storage_url`` carried in the events.
"""

from services.storage.base import BlobNotFoundError, BlobStorage
from services.storage.config import StorageSettings, open_storage
from services.storage.local import LocalStorage

__all__ = ["BlobNotFoundError", "BlobStorage", "LocalStorage", "StorageSettings", "open_storage"]
