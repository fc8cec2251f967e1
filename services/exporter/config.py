"""The exporter's own settings, from ``EXPORTER_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ExporterSettings(BaseSettings):
    """How archives are written, how long they are kept, and when expired ones are purged.

    Attributes:
        ttl: Seconds an archive can be downloaded once it is ready.
        purge_schedule: When expired archives are deleted (cron, UTC; six fields for
            seconds). Hourly by default; an archive is refused (410) as soon as it
            expires, whether or not it is purged yet.
        chunk_size: Bytes read from a document, and buffered by the gzip stream, at once:
            what bounds the memory an archive takes, whatever its size.
        job_timeout: Seconds one try of writing an archive may take.
        job_attempts: Tries before the export fails.
    """

    model_config = SettingsConfigDict(env_prefix="EXPORTER_", extra="ignore")

    ttl: int = Field(default=24 * 3600, gt=0)
    purge_schedule: str = "0 * * * *"
    chunk_size: int = Field(default=64 * 1024, ge=512, le=16 * 1024 * 1024)
    job_timeout: float = Field(default=3600.0, gt=0)
    job_attempts: int = Field(default=3, ge=1)
