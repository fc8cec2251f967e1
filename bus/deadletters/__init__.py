"""Dead letters: events a service gave up on, kept with the reason until replayed,
discarded, or purged after ``BUS_DEADLETTER_RETENTION``."""

from bus.deadletters.groups import LetterGroup, group_letters, message_shape
from bus.deadletters.models import DeadLetter, StoredDeadLetter
from bus.deadletters.replay import ReplayRequest
from bus.deadletters.sink import DeadLetterSink, MemoryDeadLetters, MongoDeadLetters

__all__ = [
    "DeadLetter",
    "DeadLetterSink",
    "LetterGroup",
    "MemoryDeadLetters",
    "MongoDeadLetters",
    "ReplayRequest",
    "StoredDeadLetter",
    "group_letters",
    "message_shape",
]
