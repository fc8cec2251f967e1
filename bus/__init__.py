"""The runtime every Chorus service uses: FastStream's MQTT broker, CloudEvents envelopes,
shared persistent subscriptions by contract type, and publishing.

Example::

    from bus import Service
    from contracts import DocumentUploaded

    svc = Service("indexer")

    @svc.on(DocumentUploaded)
    async def index(event: DocumentUploaded) -> None:
        ...
"""

from bus.envelope import Envelope, EnvelopeError
from bus.errors import BusNotStartedError, PoisonMessageError
from bus.handler import GaveUp
from bus.jobs import JobContext
from bus.publisher import Publisher, publish
from bus.requests import (
    NoResponderError,
    RequestError,
    RequestFailedError,
    RequestNotAllowedError,
    RequestTimeoutError,
)
from bus.retry import RetryPolicy
from bus.service import Service
from bus.settings import BusSettings

__all__ = [
    "BusNotStartedError",
    "BusSettings",
    "Envelope",
    "EnvelopeError",
    "GaveUp",
    "JobContext",
    "NoResponderError",
    "PoisonMessageError",
    "Publisher",
    "RequestError",
    "RequestFailedError",
    "RequestNotAllowedError",
    "RequestTimeoutError",
    "RetryPolicy",
    "Service",
    "publish",
]
