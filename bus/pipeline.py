"""What happens to one delivered message: decode, dedup, handle with retries, dead-letter."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import Enum

from opentelemetry import trace

from bus import tracing
from bus._internal.infra import until_reachable
from bus.context import handling
from bus.deadletters import DeadLetter, DeadLetterSink
from bus.dedup import Claim, Deduplicator
from bus.envelope import Envelope
from bus.errors import PoisonMessageError
from bus.handler import Handler
from bus.metrics import EVENTS, HANDLER_SECONDS, RETRIES
from bus.retry import RetryPolicy

log = logging.getLogger("bus.pipeline")

OUTCOME_ATTRIBUTE = "chorus.outcome"


class Outcome(Enum):
    """How a delivery ended. Every outcome is final: the message is acknowledged."""

    HANDLED = "handled"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead-lettered"


@dataclass
class Pipeline:
    """The steps every message goes through inside one service.

    1. Parse the CloudEvent and validate its data against the contract; on
       failure the message is poison and goes straight to dead letters.
    2. Claim the event id for this service (skip it if already handled).
    3. Call the handler, retrying what the policy deems worth it.
    4. Record success, or dead-letter the event with the last error.

    Stores that are down are waited for, never skipped.
    """

    service: str
    owner: str
    retry: RetryPolicy
    dead_letters: DeadLetterSink
    dedup: Deduplicator | None = None
    announce: Callable[[DeadLetter], Awaitable[None]] | None = None
    _in_flight: dict[str, asyncio.Event] = field(default_factory=dict, init=False, repr=False)

    async def deliver(
        self,
        handler: Handler,
        topic: str,
        payload: bytes,
        *,
        replay_of: str | None = None,
        catch_up: bool = False,
    ) -> Outcome:
        """Take one message to a final outcome; raises only when cancelled.

        ``replay_of`` names the dead letter being replayed; ``catch_up`` marks a copy
        read back from the journal (both show on the delivery's span).
        """
        via = "replay" if replay_of else "catch-up" if catch_up else "broker"
        envelope: Envelope | None = None
        try:
            envelope = Envelope.from_bytes(payload)
            argument = handler.decode(envelope)
        except PoisonMessageError as exc:
            with tracing.processing(
                self.service, topic, envelope, handler=handler.name, via=via
            ) as span:
                tracing.failed(span, exc)
                span.set_attribute(OUTCOME_ATTRIBUTE, Outcome.DEAD_LETTERED.value)
                letter = self._letter("poison", topic, payload, envelope, exc, attempts=1)
                await self._dead_letter(letter, replay_of)
            kind = envelope.type if envelope is not None else "unreadable"
            EVENTS.labels(self.service, kind, Outcome.DEAD_LETTERED.value).inc()
            return Outcome.DEAD_LETTERED
        started = time.perf_counter()
        with tracing.processing(
            self.service, topic, envelope, handler=handler.name, via=via
        ) as span:
            async with self._one_at_a_time(envelope.id):
                outcome = await self._handle_once(
                    handler, topic, payload, envelope, argument, replay_of=replay_of
                )
            span.set_attribute(OUTCOME_ATTRIBUTE, outcome.value)
        EVENTS.labels(self.service, envelope.type, outcome.value).inc()
        HANDLER_SECONDS.labels(self.service, envelope.type).observe(time.perf_counter() - started)
        return outcome

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

    async def _handle_once(
        self,
        handler: Handler,
        topic: str,
        payload: bytes,
        envelope: Envelope,
        argument: object,
        *,
        replay_of: str | None,
    ) -> Outcome:
        if self.dedup is not None:
            dedup = self.dedup
            claim = await until_reachable(
                lambda: dedup.claim(envelope.id, self.owner), what=f"{self.service} dedup"
            )
            if claim is Claim.DONE:
                log.info("%s: event %s already handled, skipped", self.service, envelope.id)
                if replay_of:
                    await until_reachable(
                        lambda: self.dead_letters.resolve(replay_of), what="dead letters"
                    )
                return Outcome.DUPLICATE
        try:
            error, attempts = await self._attempt(handler, argument, envelope)
        except asyncio.CancelledError:
            if self.dedup is not None:  # let the next delivery proceed at once
                await asyncio.shield(self.dedup.release(envelope.id))
            raise

        if error is None:
            if self.dedup is not None:
                dedup = self.dedup
                await until_reachable(lambda: dedup.complete(envelope.id), what="dedup")
            if replay_of:
                await until_reachable(
                    lambda: self.dead_letters.resolve(replay_of), what="dead letters"
                )
            return Outcome.HANDLED

        if self.dedup is not None:
            dedup = self.dedup
            await until_reachable(lambda: dedup.release(envelope.id), what="dedup")
        kind = "poison" if isinstance(error, PoisonMessageError) else "failed"
        letter = self._letter(kind, topic, payload, envelope, error, attempts=attempts)
        await self._dead_letter(letter, replay_of)
        return Outcome.DEAD_LETTERED

    async def _attempt(
        self, handler: Handler, argument: object, envelope: Envelope
    ) -> tuple[BaseException | None, int]:
        policy = handler.retry or self.retry
        delays = policy.delays()
        attempt = 0
        while True:
            attempt += 1
            try:
                with handling(envelope):
                    await handler(argument, envelope)  # type: ignore[arg-type]
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
        topic: str,
        payload: bytes,
        envelope: Envelope | None,
        error: BaseException,
        *,
        attempts: int,
    ) -> DeadLetter:
        return DeadLetter(
            service=self.service,
            topic=topic,
            kind=kind,
            reason=str(error) if kind == "poison" else f"{type(error).__name__}: {error}",
            event_id=envelope.id if envelope else None,
            event_type=envelope.type if envelope else None,
            envelope=envelope.model_dump(mode="json", exclude_none=True) if envelope else None,
            payload=payload.decode("utf-8", errors="replace"),
            attempts=attempts,
            **DeadLetter.describe(error),
        )

    async def _dead_letter(self, letter: DeadLetter, replay_of: str | None) -> None:
        log.error(
            "%s: dead-lettered %s from %s after %d attempt(s): %s",
            self.service, letter.event_id or "a message", letter.topic, letter.attempts,
            letter.reason,
        )  # fmt: skip
        if replay_of:
            await until_reachable(
                lambda: self.dead_letters.replay_failed(replay_of, letter), what="dead letters"
            )
        else:
            await until_reachable(lambda: self.dead_letters.add(letter), what="dead letters")
        if self.announce is not None:
            try:
                await self.announce(letter)
            except Exception:  # the stored letter is what counts; the notice is a courtesy
                log.warning("%s: could not announce dead letter %s", self.service, letter.id)
