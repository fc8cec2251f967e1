"""A function that handles one kind of event, and how to call it."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import ValidationError

from bus.constants import DOMAIN_EVENTS_FILTER
from bus.envelope import Envelope
from bus.errors import PoisonMessageError
from bus.retry import RetryPolicy
from contracts import Event

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
