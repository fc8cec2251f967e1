"""A function that handles one kind of event, and how to call it."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import ValidationError

from bus.constants import DOMAIN_EVENTS_FILTER
from bus.context import handling
from bus.envelope import Envelope
from bus.errors import PoisonMessageError
from bus.retry import RetryPolicy
from contracts import Event

log = logging.getLogger("bus.compensation")

HandlerFunc = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Handler:
    """A handler function and what it wants.

    The first parameter receives the typed event (or, for a handler of every
    event, the envelope). Any other parameter annotated :class:`Envelope`
    receives the envelope as well.
    """

    func: HandlerFunc
    event_type: type[Event] | None
    envelope_param: str | None
    retry: RetryPolicy | None = None
    concurrency: int | None = None
    """Deliveries of this handler in flight at once; None: the service's."""
    key: Callable[[Any], Hashable] | None = None
    """Events with the same key are handled one after another, in arrival order."""

    @classmethod
    def build(
        cls,
        func: HandlerFunc,
        event_type: type[Event] | None,
        retry: RetryPolicy | None = None,
        *,
        concurrency: int | None = None,
        key: Callable[[Any], Hashable] | None = None,
    ) -> Handler:
        if not inspect.iscoroutinefunction(func):
            msg = f"handler {func.__qualname__} must be an async function"
            raise TypeError(msg)
        params = list(inspect.signature(func).parameters.values())
        if not params:
            msg = f"handler {func.__qualname__} must take the event as its first parameter"
            raise TypeError(msg)
        hints = get_type_hints(func)
        envelope_param = next((p.name for p in params[1:] if hints.get(p.name) is Envelope), None)
        if concurrency is not None and concurrency < 1:
            raise ValueError(f"handler {func.__qualname__}: concurrency must be at least 1")
        return cls(
            func=func, event_type=event_type, envelope_param=envelope_param, retry=retry,
            concurrency=concurrency, key=key,
        )  # fmt: skip

    @property
    def name(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"

    def accepts(self, topic: str) -> bool:
        """Whether a message on ``topic`` is for this handler (a replay names its topic)."""
        return self.event_type is None or topic == self.topic

    @property
    def topic(self) -> str:
        """The topic filter this handler listens on."""
        return self.event_type.contract.topic if self.event_type else DOMAIN_EVENTS_FILTER

    def decode(self, envelope: Envelope) -> Event | Envelope:
        """The argument for the handler, or :class:`PoisonMessageError` saying why not."""
        if self.event_type is None:
            return envelope
        expected = self.event_type.contract.type
        if envelope.type != expected:
            msg = f"event type {envelope.type!r} arrived on the topic of {expected!r}"
            raise PoisonMessageError(msg)
        try:
            return self.event_type.model_validate(envelope.data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}" for e in exc.errors()
            )
            msg = f"{expected} data fails its contract: {problems}"
            raise PoisonMessageError(msg) from None

    async def __call__(self, argument: Event | Envelope, envelope: Envelope) -> Any:
        if self.envelope_param is None:
            return await self.func(argument)
        return await self.func(argument, **{self.envelope_param: envelope})


@dataclass(frozen=True, slots=True)
class GaveUp:
    """Why a service gave up on an event or a job for good: what a compensation gets.

    Attributes:
        kind: ``poison`` (the event can never be handled as it is), ``failed`` (the
            handler failed on every attempt) or ``job`` (a job ran out of tries or time).
        reason: Why, as its dead letter says.
        letter_id: Its dead letter (``bus dlq show``). After a replay that failed again,
            the replayed letter's, which that failure updated.
        attempts: Tries made.
        envelope: The event, as a CloudEvent: the one handled, or the one that asked for
            the job; for poison whose data fails its contract, the envelope as it came
            (its ``data`` unchecked). None when there was no readable envelope.
        job: The job's name (``kind == "job"``).
        kwargs: The job's keyword arguments (``kind == "job"``).
    """

    kind: str
    reason: str
    letter_id: str
    attempts: int = 1
    envelope: Envelope | None = None
    job: str | None = None
    kwargs: dict[str, Any] | None = None


CompensationFunc = Callable[..., Awaitable[Any]]
"""``async def f(event: E | None, gave_up: GaveUp)`` for an event, ``async def
f(gave_up: GaveUp)`` for a job."""


@dataclass(frozen=True, slots=True)
class Compensation:
    """What a service does once it gave up on an event of one type for good.

    ``func(event, gave_up)`` gets the typed event, or None when the event did not fit its
    contract (``gave_up.envelope`` then has what came).
    """

    func: CompensationFunc
    event_type: type[Event]

    @classmethod
    def build(cls, func: CompensationFunc, event_type: type[Event]) -> Compensation:
        if not inspect.iscoroutinefunction(func):
            msg = f"compensation {func.__qualname__} must be an async function"
            raise TypeError(msg)
        if len(inspect.signature(func).parameters) < 2:
            msg = f"compensation {func.__qualname__} must take (event, gave_up)"
            raise TypeError(msg)
        return cls(func=func, event_type=event_type)

    @property
    def name(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"

    @property
    def topic(self) -> str:
        return self.event_type.contract.topic


async def run_compensation(
    service: str,
    name: str,
    call: Callable[[], Awaitable[Any]],
    gave_up: GaveUp,
    *,
    retry: RetryPolicy,
    scope: str,
) -> bool:
    """Run one compensation (``call``) to its end; False if it failed for good.

    It runs as if handling ``gave_up.envelope`` under ``scope``: what it publishes continues
    that event's chain and gets ids derived from it, so a compensation that runs again
    (after a crash, or a replay that failed again) publishes the same ids, and consumers
    skip the repeats. A failure is logged and tried again by ``retry``; one that lasts is
    logged as an error and never raised: the dead letter stays, for a person to replay.
    """
    delays = retry.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            if gave_up.envelope is None:
                await call()
            else:
                with handling(gave_up.envelope, scope=scope):
                    await call()
        except Exception as exc:
            if attempt >= retry.attempts or not retry.is_retryable(exc):
                log.exception(
                    "%s: compensation %s for dead letter %s failed for good after %d "
                    "attempt(s); the letter stays for a replay",
                    service, name, gave_up.letter_id, attempt,
                )  # fmt: skip
                return False
            delay = next(delays)
            log.warning(
                "%s: compensation %s for dead letter %s failed (attempt %d/%d: %r), "
                "retrying in %.2fs",
                service, name, gave_up.letter_id, attempt, retry.attempts, exc, delay,
            )  # fmt: skip
            await asyncio.sleep(delay)
        else:
            log.info("%s: compensated %s (dead letter %s, %s: %s)", service, name,
                     gave_up.letter_id, gave_up.kind, gave_up.reason)  # fmt: skip
            return True
