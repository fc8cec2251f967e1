"""The shared event contracts of the system: plain pydantic, no transport.

Importing this package registers every event class, so
:func:`contracts.registry.by_type` and :func:`~contracts.registry.by_topic`
find all of them.
"""

from contracts.accounts import QuotaExceeded, QuotaReleased, QuotaReserved
from contracts.base import RESERVED_DOMAIN, ContractInfo, Event
from contracts.documents import (
    DocumentContentDeleted,
    DocumentFailed,
    DocumentInspected,
    DocumentReady,
    DocumentUploaded,
)
from contracts.jobs import JobFailed, JobProgressed, JobSucceeded
from contracts.notifications import NotificationSent
from contracts.registry import UnknownEventError, all_events, by_topic, by_type, lookup

__all__ = [
    "RESERVED_DOMAIN",
    "ContractInfo",
    "DocumentContentDeleted",
    "DocumentFailed",
    "DocumentInspected",
    "DocumentReady",
    "DocumentUploaded",
    "Event",
    "JobFailed",
    "JobProgressed",
    "JobSucceeded",
    "NotificationSent",
    "QuotaExceeded",
    "QuotaReleased",
    "QuotaReserved",
    "UnknownEventError",
    "all_events",
    "by_topic",
    "by_type",
    "lookup",
]
