"""Where dead letters go: MongoDB, announced on the bus; or a list, in unit tests."""

from __future__ import annotations

import contextlib
import logging
from typing import Protocol

from pymongo.errors import DuplicateKeyError

from bus._internal.infra import UNREACHABLE
from bus.deadletters.models import DeadLetter, StoredDeadLetter
from bus.deadletters.storable import TEXT_LIMIT, TRACEBACK_LIMIT, as_text, clip, minimal

log = logging.getLogger("bus.deadletters")


class DeadLetterSink(Protocol):
    """Keeps dead letters until they are replayed.

    A store that is unreachable raises one of ``bus._internal.infra.UNREACHABLE``
    (the caller waits and tries again); any other error means the letter could not be
    stored in any form.
    """

    async def add(self, letter: DeadLetter) -> None: ...

    async def get(self, letter_id: str) -> DeadLetter | None:
        """The stored letter, or None if there is none (resolved, or never stored)."""

    async def replay_failed(self, letter_id: str, failure: DeadLetter) -> None:
        """A replay failed again: count it and keep the newest error."""

    async def resolve(self, letter_id: str) -> None:
        """A replay was handled: the letter goes away."""


class MongoDeadLetters:
    """Dead letters stored durably in MongoDB (via Beanie).

    A letter the store refuses for what it carries (not for being unreachable) is
    stored again in a smaller form that says what it lost: see
    :mod:`bus.deadletters.storable`.
    """

    async def add(self, letter: DeadLetter) -> None:
        try:
            await _insert(letter)
            return
        except UNREACHABLE:
            raise
        except Exception as exc:
            refused = exc
        log.warning("dead letter %s refused as it was (%r); storing it as text", letter.id, refused)
        try:
            await _insert(as_text(letter, refused))
            return
        except UNREACHABLE:
            raise
        except Exception as exc:
            refused = exc
        log.error("dead letter %s refused as text (%r); storing a minimal one", letter.id, refused)
        await _insert(minimal(letter, refused))

    async def get(self, letter_id: str) -> DeadLetter | None:
        return await StoredDeadLetter.get(letter_id)

    async def replay_failed(self, letter_id: str, failure: DeadLetter) -> None:
        stored = await StoredDeadLetter.get(letter_id)
        if stored is None:
            await self.add(failure)
            return
        stored.replays += 1
        stored.attempts += failure.attempts
        for name in ("kind", "reason", "error_type", "error_message", "traceback", "dead_at"):
            setattr(stored, name, getattr(failure, name))
        try:
            await stored.save()
            return
        except UNREACHABLE:
            raise
        except Exception as exc:
            refused = exc
        # The newest error's texts are what changed: keep them as valid UTF-8, cut to size.
        for name in ("reason", "error_type", "error_message"):
            setattr(stored, name, clip(getattr(stored, name), TEXT_LIMIT)[0])
        stored.traceback = clip(stored.traceback or "", TRACEBACK_LIMIT)[0] or None
        stored.problem = clip(f"the newest error was cut to fit: {refused!r}", TEXT_LIMIT)[0]
        await stored.save()

    async def resolve(self, letter_id: str) -> None:
        stored = await StoredDeadLetter.get(letter_id)
        if stored is not None:
            await stored.delete()


async def _insert(letter: DeadLetter) -> None:
    # A duplicate id: stored by an earlier try whose answer was lost with the connection.
    with contextlib.suppress(DuplicateKeyError):
        await StoredDeadLetter(**letter.model_dump()).insert()


class MemoryDeadLetters:
    """Dead letters in a dict, for tests of handler logic."""

    def __init__(self) -> None:
        self.letters: dict[str, DeadLetter] = {}

    async def add(self, letter: DeadLetter) -> None:
        self.letters[letter.id] = letter

    async def get(self, letter_id: str) -> DeadLetter | None:
        return self.letters.get(letter_id)

    async def replay_failed(self, letter_id: str, failure: DeadLetter) -> None:
        old = self.letters.get(letter_id)
        replays = old.replays + 1 if old else 0
        self.letters[letter_id] = failure.model_copy(update={"id": letter_id, "replays": replays})

    async def resolve(self, letter_id: str) -> None:
        self.letters.pop(letter_id, None)
