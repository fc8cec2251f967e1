"""The catalog: the read model of every document (status, timeline, inspection metadata)."""

from services.catalog.history import read_log
from services.catalog.models import (
    STATUSES,
    TERMINAL_STATUSES,
    AppliedEvent,
    AppliedEventBase,
    CatalogEntry,
    CatalogEntryBase,
    LoggedEvent,
    Status,
    TimelineEntry,
)
from services.catalog.queries import entry_of, find_document, list_documents
from services.catalog.service import create_service, service

__all__ = [
    "STATUSES",
    "TERMINAL_STATUSES",
    "AppliedEvent",
    "AppliedEventBase",
    "CatalogEntry",
    "CatalogEntryBase",
    "LoggedEvent",
    "Status",
    "TimelineEntry",
    "create_service",
    "entry_of",
    "find_document",
    "list_documents",
    "read_log",
    "service",
]
