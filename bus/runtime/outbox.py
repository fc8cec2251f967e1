"""What a replica sends on its connection: its events, journal first, and dead-letter
notices."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bus._internal.broker import send, send_bytes
from bus.constants import DEAD_LETTER_TOPIC
from bus.errors import BusNotStartedError
from bus.runtime.journal_batch import record

if TYPE_CHECKING:
    from bus._internal.broker import Broker
    from bus.deadletters import DeadLetter
    from bus.envelope import Envelope
    from bus.settings import BusSettings


class Outbox:
    """Publishes at QoS 1 on one replica's broker connection.

    Args:
        broker: The replica's broker.
        service: Its service's name (the dead-letter notice topic).
        settings: The namespace, and whether to write the journal first.
        journal: Whether the journal is open here (no store in unit tests).
    """

    def __init__(
        self, broker: Broker, service: str, settings: BusSettings, *, journal: bool = True
    ) -> None:
        self.broker = broker
        self.settings = settings
        self.journal_first = journal and settings.journal_first
        self._notices = settings.wire_topic(DEAD_LETTER_TOPIC.format(service=service))
        self.opened = False
        """Set once the broker is started: nothing is journaled before it can be sent."""

    async def send(self, envelope: Envelope, topic: str, *, binary: bool = False) -> None:
        """Journal the envelope (``journal_first``), then publish it on ``topic`` (as it
        travels) and wait for the PUBACK: an event the broker acknowledged and lost
        before saving is still in the journal for consumers' catch-up. Concurrent sends
        share one journal write (:mod:`bus.runtime.journal_batch`); each is sent only
        once the write holding it was acknowledged. ``binary``: in the CloudEvents
        binary content mode (see :mod:`bus.envelope`), else structured."""
        if not self.opened:
            raise BusNotStartedError("publishing before the broker connection is started")
        if self.journal_first:
            await record(envelope)
        await send(self.broker, envelope, topic, binary=binary)

    async def announce(self, letter: DeadLetter) -> None:
        """A notice of a stored dead letter on ``chorus/deadletters/<service>``."""
        await send_bytes(self.broker, letter.model_dump_json().encode(), self._notices)
