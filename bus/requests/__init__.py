"""Request/reply over the bus, for the questions that need an answer now.

``@service.responds(QueryType)`` answers a query; ``await service.request(query,
timeout=2.0)`` asks one and returns its typed reply. MQTT 5 Response Topic and
Correlation Data carry it (:mod:`bus.requests.wire` describes the bytes); queries and
replies are never journaled or deduplicated.
"""

from bus.requests.client import request
from bus.requests.declare import Queries
from bus.requests.errors import (
    NoResponderError,
    RequestError,
    RequestFailedError,
    RequestNotAllowedError,
    RequestTimeoutError,
)
from bus.requests.requester import Requester, ask
from bus.requests.responder import Answer, Responder

__all__ = [
    "Answer",
    "NoResponderError",
    "Queries",
    "RequestError",
    "RequestFailedError",
    "RequestNotAllowedError",
    "RequestTimeoutError",
    "Requester",
    "Responder",
    "ask",
    "request",
]
