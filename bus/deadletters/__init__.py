"""Dead letters: events a service gave up on, kept with the reason until replayed."""

from bus.deadletters.models import DeadLetter, StoredDeadLetter
from bus.deadletters.replay import ReplayRequest
from bus.deadletters.sink import DeadLetterSink, MemoryDeadLetters, MongoDeadLetters

__all__ = [
    "DeadLetter",
    "DeadLetterSink",
    "MemoryDeadLetters",
    "MongoDeadLetters",
    "ReplayRequest",
    "StoredDeadLetter",
]
