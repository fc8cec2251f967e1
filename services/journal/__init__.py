"""The event journal: an append-only record of every domain event, in MongoDB."""

from bus.journal import JournalEntry
from services.journal.service import create_service, service

__all__ = ["JournalEntry", "create_service", "service"]
