"""Counting what reached the store, for the fault tests' summary lines."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from tests.faults.consumer import Effect, Reapplied


@dataclass
class Tally:
    sent: int
    handled: int
    reapplied: int

    @property
    def lost(self) -> int:
        return self.sent - self.handled

    def line(self, name: str, extra: str = "") -> str:
        return (
            f"{name}: sent {self.sent}, handled {self.handled}, lost {self.lost}, "
            f"applied twice 0 (unique key), handler re-run on a stored effect "
            f"{self.reapplied}{extra}"
        )


async def tally(sent: int) -> Tally:
    return Tally(sent=sent, handled=await Effect.count(), reapplied=await Reapplied.count())


async def wait_for_effects(expected: int, *, within: float, settle: float = 1.0) -> int:
    """Wait until ``expected`` effects are stored (or time runs out), then a little more
    so that late duplicates would show; returns the count."""
    deadline = time.monotonic() + within
    count = await Effect.count()
    while count < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        count = await Effect.count()
    await asyncio.sleep(settle)
    return await Effect.count()
