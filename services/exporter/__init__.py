"""The exporter: archives (tar.gz) of a user's ready documents, written by a job, kept
for a while, then purged."""

from services.exporter.archive import ArchiveWriter, UniqueNames, Written, write_archive
from services.exporter.config import ExporterSettings
from services.exporter.files import archive_path, download_name, local_path
from services.exporter.models import FINISHED, ExportBase, ExportRecord, ExportStatus
from services.exporter.queries import find_export, list_exports
from services.exporter.service import create_service, outcome_event_id, service

__all__ = [
    "FINISHED",
    "ArchiveWriter",
    "ExportBase",
    "ExportRecord",
    "ExportStatus",
    "ExporterSettings",
    "UniqueNames",
    "Written",
    "archive_path",
    "create_service",
    "download_name",
    "find_export",
    "list_exports",
    "local_path",
    "outcome_event_id",
    "service",
    "write_archive",
]
