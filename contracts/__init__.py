"""The shared event contracts of the system: plain pydantic, no transport.

Importing this package registers every event class, so
:func:`contracts.registry.by_type` and :func:`~contracts.registry.by_topic`
find all of them.
"""

from contracts.base import RESERVED_DOMAIN, ContractInfo, Event
from contracts.documents import DocumentUploaded
from contracts.jobs import JobFailed, JobProgressed, JobSucceeded
from contracts.registry import UnknownEventError, all_events, by_topic, by_type, lookup

__all__ = [
    "RESERVED_DOMAIN",
    "ContractInfo",
    "DocumentUploaded",
    "Event",
    "JobFailed",
    "JobProgressed",
    "JobSucceeded",
    "UnknownEventError",
    "all_events",
    "by_topic",
    "by_type",
    "lookup",
]
