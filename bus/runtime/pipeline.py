"""What happens to one delivered message: read, dedup, handle with retries, dead-letter.

Every copy of an event takes this path, whichever way it came (:class:`Via`): from the
broker (:mod:`bus.runtime.inbox`), read back from the journal after a gap
(:mod:`bus.runtime.catchup`), or a dead letter replayed on request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Protocol

from opentelemetry import trace

from bus import tracing
from bus._internal.infra import until_reachable
from bus.context import handling
from bus.deadletters import DeadLetter, DeadLetterSink
from bus.deadletters.storable import minimal
from bus.dedup import Claim, Deduplicator
from bus.envelope import Envelope, Properties, WireMessage
from bus.errors import PoisonMessageError
from bus.handler import Handler
from bus.metrics import EVENTS, HANDLER_SECONDS, RETRIES
from bus.retry import RetryPolicy
from contracts import Event

log = logging.getLogger("bus.pipeline")

OUTCOME_ATTRIBUTE = "chorus.outcome"


class Outcome(Enum):
    """How a delivery ended. Every outcome is final: the message is acknowledged."""

    HANDLED = "handled"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead-lettered"


class Via(Enum):
    """How a copy of an event reached the pipeline (``chorus.delivered_via`` on its span)."""

    BROKER = "broker"
    CATCH_UP = "catch-up"
    REPLAY = "replay"


@dataclass(frozen=True, slots=True)
class Decoded:
    """An envelope and the handler's argument read from it."""

    envelope: Envelope
    argument: Event | Envelope

    @classmethod
    def read(cls, handler: Handler, message: bytes | WireMessage) -> Decoded:
        """Parse ``message`` (bytes: a structured-mode event) for ``handler``, in either
        CloudEvents content mode; :class:`PoisonMessageError` says why not."""
        if isinstance(message, bytes):
            message = WireMessage(message)
        envelope = Envelope.from_message(message)
        return cls(envelope, handler.decode(envelope))


@dataclass(frozen=True, slots=True)
class Delivery:
    """One copy of a message on its way to an outcome.

    Attributes:
        handler: The handler it is for.
        topic: Its topic, outside any namespace.
        payload: The bytes as they arrived (kept in a dead letter).
        via: How it came.
        replay_of: The dead letter being replayed (``via`` is then ``REPLAY``).
        decoded: Already read (catch-up reads envelopes from the journal): not read again.
        content_type: The MQTT 5 content type it came with (kept in a dead letter).
        properties: Its MQTT 5 user properties (kept in a dead letter). None only for a
            replay whose request did not carry them (a ``bus dlq`` older than binary
            mode): they are then read from the stored letter.
    """

    handler: Handler
    topic: str
    payload: bytes
    via: Via = Via.BROKER
    replay_of: str | None = None
    decoded: Decoded | None = None
    content_type: str | None = None
    properties: Properties | None = ()

    @property
    def message(self) -> WireMessage:
        """What the CloudEvents binding reads: payload, content type, user properties."""
        return WireMessage(self.payload, self.content_type, self.properties or ())


class SourceCheck(Protocol):
    """Says why an event's ``source`` is not to be trusted, or None
    (:class:`bus.security.producers.Producers`)."""

    def check(self, envelope: Envelope) -> str | None: ...


class DeadLetterNotices(Protocol):
    """Tells the world about a stored dead letter (a notice on the bus)."""

    async def announce(self, letter: DeadLetter) -> None: ...


@dataclass
class Pipeline:
    """The steps every message goes through inside one replica.

    1. Read the CloudEvent and validate its data against the contract, and check
       that its source is a producer of its type; on failure the message is poison
       and goes straight to dead letters.
    2. Claim the event id for this service (skip it if already handled).
    3. Call the handler, retrying what the policy deems worth it.
    4. Record success, or dead-letter the event with the last error.

    Stores that are down are waited for, never skipped.

    Attributes:
        service: The service's name (logs, metrics, dead letters).
        owner: Who claims events in Redis: the replica's client id.
        retry: The policy of handlers that declare none, read at each delivery
            (live config may replace it while the replica runs).
        dead_letters: Where letters are kept.
        dedup: The service's handled-event records; None: no dedup (unit tests).
        notices: Told about each stored letter; None: nobody.
        sources: Checks each event's source; None: no check.
    """

    service: str
    owner: str
    retry: Callable[[], RetryPolicy]
    dead_letters: DeadLetterSink
    dedup: Deduplicator | None = None
    notices: DeadLetterNotices | None = None
    sources: SourceCheck | None = None
    _in_flight: dict[str, asyncio.Event] = field(default_factory=dict, init=False, repr=False)

    async def deliver(self, delivery: Delivery) -> Outcome:
        """Take one message to a final outcome; raises only when cancelled."""
        if delivery.properties is None and delivery.replay_of:
            delivery = await self._as_stored(delivery, delivery.replay_of)
        handler, topic = delivery.handler, delivery.topic
        decoded = delivery.decoded
        if decoded is None:
            envelope: Envelope | None = None
            try:
                envelope = Envelope.from_message(delivery.message)
                decoded = Decoded(envelope, handler.decode(envelope))
            except PoisonMessageError as exc:
                return await self._poison(delivery, envelope, exc)
        if self.sources is not None and (distrust := self.sources.check(decoded.envelope)):
            return await self._poison(delivery, decoded.envelope, PoisonMessageError(distrust))
        started = time.perf_counter()
        envelope = decoded.envelope
        with tracing.processing(
            self.service, topic, envelope, handler=handler.name, via=delivery.via.value
        ) as span:
            async with self._one_at_a_time(envelope.id):
                outcome = await self._handle_once(delivery, decoded)
            span.set_attribute(OUTCOME_ATTRIBUTE, outcome.value)
        EVENTS.labels(self.service, envelope.type, outcome.value).inc()
        HANDLER_SECONDS.labels(self.service, envelope.type).observe(time.perf_counter() - started)
        return outcome

    async def _as_stored(self, delivery: Delivery, letter_id: str) -> Delivery:
        """``delivery`` with the content type and user properties of the stored letter."""
        sink = self.dead_letters
        letter = await until_reachable(lambda: sink.get(letter_id), what="dead letters")
        if letter is None:  # resolved meanwhile: the payload is all there is
            return replace(delivery, properties=())
        return replace(
            delivery, content_type=letter.content_type, properties=letter.mqtt_properties()
        )

    async def _poison(
        self, delivery: Delivery, envelope: Envelope | None, error: PoisonMessageError
    ) -> Outcome:
        with tracing.processing(
            self.service, delivery.topic, envelope, handler=delivery.handler.name,
            via=delivery.via.value,
        ) as span:  # fmt: skip
            tracing.failed(span, error)
            span.set_attribute(OUTCOME_ATTRIBUTE, Outcome.DEAD_LETTERED.value)
            await self._dead_letter(
                self._letter("poison", delivery, envelope, error, attempts=1), delivery.replay_of
            )
        kind = envelope.type if envelope is not None else "unreadable"
        EVENTS.labels(self.service, kind, Outcome.DEAD_LETTERED.value).inc()
        return Outcome.DEAD_LETTERED

    @asynccontextmanager
    async def _one_at_a_time(self, event_id: str) -> AsyncIterator[None]:
        """Two copies of one event in this process (a live delivery and a catch-up) take
        turns: the claim in Redis is per replica, so it does not separate them."""
        while (running := self._in_flight.get(event_id)) is not None:
            await running.wait()
        self._in_flight[event_id] = done = asyncio.Event()
        try:
            yield
        finally:
            del self._in_flight[event_id]
            done.set()

    async def _handle_once(self, delivery: Delivery, decoded: Decoded) -> Outcome:
        envelope, replay_of = decoded.envelope, delivery.replay_of
        dedup = self.dedup
        if dedup is not None:
            claim = await until_reachable(
                lambda: dedup.claim(envelope.id, self.owner), what=f"{self.service} dedup"
            )
            if claim is Claim.DONE:
                log.info("%s: event %s already handled, skipped", self.service, envelope.id)
                if replay_of:
                    await self._resolve(replay_of)
                return Outcome.DUPLICATE
        try:
            error, attempts = await self._attempt(delivery.handler, decoded)
        except asyncio.CancelledError:
            if dedup is not None:  # let the next delivery proceed at once
                await asyncio.shield(dedup.release(envelope.id))
            raise

        if error is None:
            if dedup is not None:
                await until_reachable(lambda: dedup.complete(envelope.id), what="dedup")
            if replay_of:
                await self._resolve(replay_of)
            return Outcome.HANDLED

        if dedup is not None:
            await until_reachable(lambda: dedup.release(envelope.id), what="dedup")
        kind = "poison" if isinstance(error, PoisonMessageError) else "failed"
        letter = self._letter(kind, delivery, envelope, error, attempts=attempts)
        await self._dead_letter(letter, replay_of)
        return Outcome.DEAD_LETTERED

    async def _attempt(
        self, handler: Handler, decoded: Decoded
    ) -> tuple[BaseException | None, int]:
        envelope = decoded.envelope
        policy = handler.retry or self.retry()
        delays = policy.delays()
        attempt = 0
        while True:
            attempt += 1
            try:
                with handling(envelope):
                    await handler(decoded.argument, envelope)
            except Exception as exc:
                if attempt >= policy.attempts or not policy.is_retryable(exc):
                    tracing.failed(trace.get_current_span(), exc)
                    return exc, attempt
                delay = next(delays)
                trace.get_current_span().add_event(
                    "retry", {"attempt": attempt, "error": repr(exc), "delay_seconds": delay}
                )
                RETRIES.labels(self.service, envelope.type).inc()
                log.warning(
                    "%s: %s failed on %s (attempt %d/%d: %r), retrying in %.2fs",
                    self.service, handler.name, envelope.id, attempt, policy.attempts, exc, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)
            else:
                return None, attempt

    def _letter(
        self,
        kind: str,
        delivery: Delivery,
        envelope: Envelope | None,
        error: BaseException,
        *,
        attempts: int,
    ) -> DeadLetter:
        return DeadLetter(
            service=self.service,
            topic=delivery.topic,
            kind=kind,
            reason=str(error) if kind == "poison" else f"{type(error).__name__}: {error}",
            event_id=envelope.id if envelope else None,
            event_type=envelope.type if envelope else None,
            envelope=envelope.model_dump(mode="json", exclude_none=True) if envelope else None,
            payload=delivery.payload.decode("utf-8", errors="replace"),
            content_type=delivery.content_type,
            properties=list(delivery.properties or ()),
            attempts=attempts,
            **DeadLetter.describe(error),
        )

    async def _resolve(self, replay_of: str) -> None:
        await until_reachable(lambda: self.dead_letters.resolve(replay_of), what="dead letters")

    async def _dead_letter(self, letter: DeadLetter, replay_of: str | None) -> None:
        log.error(
            "%s: dead-lettered %s from %s after %d attempt(s): %s",
            self.service, letter.event_id or "a message", letter.topic, letter.attempts,
            letter.reason,
        )  # fmt: skip
        if not await self._store(letter, replay_of):
            return
        if replay_of is not None:  # a replay that failed again updated the replayed letter
            letter = letter.model_copy(update={"id": replay_of})
        if self.notices is not None:
            try:
                await self.notices.announce(letter)
            except Exception:  # the stored letter is what counts; the notice is a courtesy
                log.warning("%s: could not announce dead letter %s", self.service, letter.id)

    async def _store(self, letter: DeadLetter, replay_of: str | None) -> bool:
        """Store ``letter``; False if no form of it could be stored.

        An unreachable store is waited for. A store that refuses the letter for what it
        carries gets a minimal one (reason and payload as text); if it refuses that too,
        the letter is logged and given up on: the delivery still ends, and is acknowledged,
        rather than coming back at every reconnection.
        """
        sink = self.dead_letters
        try:
            if replay_of:
                await until_reachable(
                    lambda: sink.replay_failed(replay_of, letter), what="dead letters"
                )
            else:
                await until_reachable(lambda: sink.add(letter), what="dead letters")
            return True
        except Exception as exc:  # not unreachable: until_reachable waits those out
            log.exception(
                "%s: dead letter %s refused; storing a minimal one", self.service, letter.id
            )
            fallback = minimal(letter, exc)
        try:
            await until_reachable(lambda: sink.add(fallback), what="dead letters")
            return True
        except Exception:
            log.critical(
                "%s: no form of dead letter %s could be stored; given up on: %s",
                self.service, letter.id, fallback.model_dump_json(),
            )  # fmt: skip
            return False
