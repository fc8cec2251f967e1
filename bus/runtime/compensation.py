"""Compensations: what a service does once it gave up on an event for good.

The pipeline tells a :class:`~bus.runtime.pipeline.DeadLetterNotices` about each dead
letter it stored (poison, or failed after its retries; a replay that failed again too).
:class:`Compensations` is one of those: it finds the service's compensation for the
letter's event type (``@service.compensate``), reads the event back from the letter, and
runs the compensation before the delivery ends (so a crash before it is done gets the
event again, dead-letters it again and compensates again). :class:`Notices` tells
several of them, each on its own: the dead-letter notice on the bus is one, this another.

What a compensation gets:

- an event that fits its contract, from a trusted producer: the typed event;
- poison whose envelope is readable and whose source is a declared producer of its type,
  but whose data fails the contract (a newer producer's field, say): ``None``, with the
  envelope as it came in ``gave_up.envelope``;
- bytes that are no CloudEvent, or an event whose source is not a producer of its type:
  the compensation is **not** called (logged). Nothing in it says whose work it was, or
  it may be forged: a compensation must not act on it.

Jobs declare theirs with ``@service.job(on_give_up=...)``; the job runner calls it
(:mod:`bus.jobs.runner`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bus.envelope import Envelope
from bus.handler import Compensation, GaveUp, run_compensation

if TYPE_CHECKING:
    from bus.deadletters import DeadLetter
    from bus.retry import RetryPolicy
    from bus.runtime.pipeline import DeadLetterNotices, SourceCheck

log = logging.getLogger("bus.compensation")

SCOPE = "compensate"
"""The handling scope of a compensation: what it publishes gets ids derived from the
event it compensates and from this, never colliding with the handler's own."""


class Compensations:
    """Runs a service's compensations for the dead letters its pipeline stores.

    Args:
        service: The service's name (logs).
        compensations: Its declared compensations, one per event type.
        retry: The policy of a failing compensation, read each time (the service's).
        sources: Checks the source of a letter's event (None: no check).
    """

    def __init__(
        self,
        service: str,
        compensations: Sequence[Compensation],
        retry: Callable[[], RetryPolicy],
        sources: SourceCheck | None = None,
    ) -> None:
        self.service = service
        self.by_topic = {c.topic: c for c in compensations}
        self.retry = retry
        self.sources = sources

    async def announce(self, letter: DeadLetter) -> None:
        """Compensate for ``letter`` if the service declared a compensation for its topic."""
        compensation = self.by_topic.get(letter.topic)
        if compensation is None or letter.kind == "job":
            return
        envelope = _envelope(letter)
        if envelope is None:
            log.warning(
                "%s: not compensating dead letter %s (%s): no readable CloudEvent in it",
                self.service, letter.id, letter.reason,
            )  # fmt: skip
            return
        if self.sources is not None and (distrust := self.sources.check(envelope)):
            log.warning("%s: not compensating dead letter %s: %s", self.service, letter.id,
                        distrust)  # fmt: skip
            return
        event = None
        if envelope.type == compensation.event_type.contract.type:
            try:
                event = compensation.event_type.model_validate(envelope.data)
            except ValidationError:
                event = None  # poison: the compensation gets the envelope as it came
        gave_up = GaveUp(
            kind=letter.kind, reason=letter.reason, letter_id=letter.id,
            attempts=letter.attempts, envelope=envelope,
        )  # fmt: skip
        await run_compensation(
            self.service, compensation.name, lambda: compensation.func(event, gave_up),
            gave_up, retry=self.retry(), scope=SCOPE,
        )  # fmt: skip


class Notices:
    """Tells each of several :class:`DeadLetterNotices` about a letter, one after another;
    one that fails is logged and does not keep the letter from the others."""

    def __init__(self, *notices: DeadLetterNotices | None) -> None:
        self.notices = [n for n in notices if n is not None]

    async def announce(self, letter: DeadLetter) -> None:
        for notices in self.notices:
            try:
                await notices.announce(letter)
            except Exception:
                log.exception("could not tell %s about dead letter %s",
                              type(notices).__name__, letter.id)  # fmt: skip


def _envelope(letter: DeadLetter) -> Envelope | None:
    data = letter.original_envelope()
    if data is not None:
        try:
            return Envelope.model_validate(data)
        except ValidationError:
            return None
    if letter.payload:
        try:
            return Envelope.from_bytes(letter.payload.encode())
        except Exception:  # not a CloudEvent at all: the letter says why
            return None
    return None
