"""Where dead letters go: MongoDB, announced on the bus; or a list, in unit tests."""

from __future__ import annotations

import logging
from typing import Protocol

from bus.deadletters.models import DeadLetter, StoredDeadLetter

log = logging.getLogger("bus.deadletters")


class DeadLetterSink(Protocol):
    """Keeps dead letters until they are replayed."""

    async def add(self, letter: DeadLetter) -> None: ...

    async def replay_failed(self, letter_id: str, failure: DeadLetter) -> None:
        """A replay failed again: count it and keep the newest error."""

    async def resolve(self, letter_id: str) -> None:
        """A replay was handled: the letter goes away."""


class MongoDeadLetters:
    """Dead letters stored durably in MongoDB (via Beanie)."""

    async def add(self, letter: DeadLetter) -> None:
        await StoredDeadLetter(**letter.model_dump()).insert()

    async def replay_failed(self, letter_id: str, failure: DeadLetter) -> None:
        stored = await StoredDeadLetter.get(letter_id)
        if stored is None:
            await self.add(failure)
            return
        stored.replays += 1
        stored.attempts += failure.attempts
        for name in ("kind", "reason", "error_type", "error_message", "traceback", "dead_at"):
            setattr(stored, name, getattr(failure, name))
        await stored.save()

    async def resolve(self, letter_id: str) -> None:
        stored = await StoredDeadLetter.get(letter_id)
        if stored is not None:
            await stored.delete()


class MemoryDeadLetters:
    """Dead letters in a dict, for tests of handler logic."""

    def __init__(self) -> None:
        self.letters: dict[str, DeadLetter] = {}

    async def add(self, letter: DeadLetter) -> None:
        self.letters[letter.id] = letter

    async def replay_failed(self, letter_id: str, failure: DeadLetter) -> None:
        old = self.letters.get(letter_id)
        replays = old.replays + 1 if old else 0
        self.letters[letter_id] = failure.model_copy(update={"id": letter_id, "replays": replays})

    async def resolve(self, letter_id: str) -> None:
        self.letters.pop(letter_id, None)
