"""The shared event contracts of the system: plain pydantic, no transport.

Importing this package registers every event class, so
:func:`contracts.registry.by_type` and :func:`~contracts.registry.by_topic`
find all of them; queries (request/reply, never journaled) are found by
:func:`contracts.query.query_by_name`.
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
from contracts.exports import ExportExpired, ExportFailed, ExportReady, ExportRequested
from contracts.jobs import JobFailed, JobProgressed, JobSucceeded
from contracts.notifications import NotificationSent
from contracts.queries import QuotaLeft, QuotaLeftReply
from contracts.query import Query, QueryInfo, Reply, UnknownQueryError, all_queries, query_by_name
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
    "ExportExpired",
    "ExportFailed",
    "ExportReady",
    "ExportRequested",
    "JobFailed",
    "JobProgressed",
    "JobSucceeded",
    "NotificationSent",
    "Query",
    "QueryInfo",
    "QuotaExceeded",
    "QuotaLeft",
    "QuotaLeftReply",
    "QuotaReleased",
    "QuotaReserved",
    "Reply",
    "UnknownEventError",
    "UnknownQueryError",
    "all_events",
    "all_queries",
    "by_topic",
    "by_type",
    "lookup",
    "query_by_name",
]
