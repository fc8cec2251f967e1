"""Publishing from scripts, tests and the command line, outside any service."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from types import TracebackType
from typing import TYPE_CHECKING

from bus import tracing
from bus._internal.broker import make_broker, send
from bus._internal.mqtt import MQTT_ERRORS
from bus.envelope import Envelope
from bus.journal import JournalEntry
from bus.mongo import connect_mongo, release_mongo
from bus.runtime.journal_batch import record
from bus.settings import BusSettings
from bus.topics import topic_for_type
from contracts import Event

if TYPE_CHECKING:
    from bus._internal.broker import Broker


_PUBACK_TIMEOUT = 5.0
"""Seconds one try waits for the broker's PUBACK before sending again."""


class Publisher:
    """A short-lived connection that publishes events at QoS 1.

    Example::

        async with Publisher(source="/importer/1") as pub:
            await pub.publish(DocumentUploaded(...))

    Args:
        source: The CloudEvents ``source``; default: this host and process.
        settings: Connections; default: from the environment.
        retry_for: Seconds to keep trying one event while the broker is unreachable
            (restarting, say) before giving up; 0 fails at once. The same envelope
            is sent again, so consumers see at worst a duplicate, never a loss.

    With ``settings.journal_first`` (the default) each event is written to the
    journal before it is sent: if the broker acknowledges it and dies before
    saving it, consumers still get it when they catch up after the restart.
    Concurrent publishes in one process share one journal write
    (:mod:`bus.runtime.journal_batch`).
    """

    def __init__(
        self,
        *,
        source: str | None = None,
        settings: BusSettings | None = None,
        retry_for: float = 0.0,
    ) -> None:
        self.settings = settings or BusSettings()
        self.source = source or f"/cli/{socket.gethostname()}-{os.getpid()}"
        self.retry_for = retry_for
        self.retries = 0
        self._broker: Broker | None = None
        self._journal = False

    async def __aenter__(self) -> Publisher:
        if self.settings.journal_first:
            await connect_mongo(self.settings.mongo_url, [JournalEntry])
            self._journal = True
        self._broker = make_broker(self.settings, reconnect=self.retry_for > 0)
        await self._broker.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._broker is not None:
            await self._broker.stop()
            self._broker = None
        if self._journal:
            await release_mongo(self.settings.mongo_url)
            self._journal = False

    async def publish(
        self,
        event: Event,
        *,
        id: str | None = None,
        cause: Envelope | None = None,
        binary: bool = False,
    ) -> Envelope:
        """Wrap ``event`` in a new envelope and publish it; returns the envelope.

        The envelope carries the trace context of a new publish span, a child of
        the current span if there is one (see :mod:`bus.tracing`). ``binary`` sends it
        in the CloudEvents binary content mode (attributes as MQTT 5 user properties,
        ``data`` as the payload: see :mod:`bus.envelope`); else structured mode.
        """
        topic = self.settings.wire_topic(event.contract.topic)
        with tracing.publishing(
            None, event, topic, source=self.source, cause=cause, id=id
        ) as envelope:
            await self.publish_envelope(envelope, binary=binary)
        return envelope

    async def publish_envelope(
        self, envelope: Envelope, topic: str | None = None, *, binary: bool = False
    ) -> None:
        """Publish an existing envelope as it is (a replay, or a deliberate duplicate);
        ``binary`` as for :meth:`publish`."""
        if self._broker is None:
            msg = "use the Publisher as 'async with Publisher() as pub:'"
            raise RuntimeError(msg)
        broker = self._broker
        where = self.settings.wire_topic(topic or topic_for_type(envelope.type))
        if self._journal:
            await record(envelope)
        if self.retry_for <= 0:
            await send(broker, envelope, where, binary=binary)
            return
        deadline = time.monotonic() + self.retry_for
        delay = 0.05
        while True:
            try:
                async with asyncio.timeout(_PUBACK_TIMEOUT):
                    await send(broker, envelope, where, binary=binary)
            except MQTT_ERRORS:
                if time.monotonic() + delay > deadline:
                    raise
                self.retries += 1
                await asyncio.sleep(delay)
                delay = min(1.0, delay * 2)
            else:
                return


async def publish(
    event: Event,
    *,
    source: str | None = None,
    settings: BusSettings | None = None,
    id: str | None = None,
    binary: bool = False,
) -> Envelope:
    """Connect, publish one event at QoS 1, disconnect; returns its envelope
    (``binary``: in the CloudEvents binary content mode, see :meth:`Publisher.publish`)."""
    async with Publisher(source=source, settings=settings) as pub:
        return await pub.publish(event, id=id, binary=binary)
