"""Which storage the services use, from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.storage.base import BlobStorage
from services.storage.local import LocalStorage


class StorageSettings(BaseSettings):
    """``STORAGE_ROOT``: the folder of the local storage (default ``.stack/blobs``)."""

    model_config = SettingsConfigDict(env_prefix="STORAGE_", extra="ignore")

    root: Path = Path(".stack/blobs")


def open_storage(settings: StorageSettings | None = None) -> BlobStorage:
    """The configured storage (a local folder: the only kind so far)."""
    return LocalStorage((settings or StorageSettings()).root)
