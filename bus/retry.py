"""How often, and how far apart, a failing handler is tried again."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from bson.errors import InvalidDocument
from pydantic import ValidationError

from bus.errors import PoisonMessageError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, for one handler.

    Attributes:
        attempts: Tries in all, the first included; 1 means no retry.
        initial_delay: Upper bound of the first wait, in seconds.
        max_delay: Upper bound of any wait, in seconds.
        multiplier: Growth of the bound from one wait to the next.
        retry_on: Exceptions worth another try.
        give_up_on: Exceptions never worth another try, even if ``retry_on`` matches
            (a bad input stays bad).
    """

    attempts: int = 5
    initial_delay: float = 0.2
    max_delay: float = 10.0
    multiplier: float = 2.0
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    give_up_on: tuple[type[BaseException], ...] = field(
        # OverflowError, InvalidDocument: what MongoDB cannot encode (an int past 8 bytes)
        default=(
            PoisonMessageError,
            ValidationError,
            TypeError,
            ValueError,
            OverflowError,
            InvalidDocument,
        )
    )

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.initial_delay < 0 or self.max_delay < self.initial_delay:
            raise ValueError("need 0 <= initial_delay <= max_delay")

    def is_retryable(self, exc: BaseException) -> bool:
        """Whether ``exc`` deserves another try (attempts aside)."""
        return isinstance(exc, self.retry_on) and not isinstance(exc, self.give_up_on)

    def delays(self) -> Iterator[float]:
        """The waits before the 2nd, 3rd, … attempt: uniform in [0, bound] ("full jitter")."""
        bound = self.initial_delay
        for _ in range(self.attempts - 1):
            yield random.uniform(0, bound)
            bound = min(self.max_delay, bound * self.multiplier)


NO_RETRY = RetryPolicy(attempts=1)
"""Dead-letter on the first failure."""
