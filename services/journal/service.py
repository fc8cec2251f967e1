"""The journal service. Consumes: every domain event. Produces: nothing. Also purges the
dead letters older than ``BUS_DEADLETTER_RETENTION`` (:mod:`bus.deadletters.retention`),
since every stack runs it.

The journal is the record of facts: catch-up delivers what it holds to the services that
missed it, ``bus journal`` and the trace views show it. So it keeps only what the
contracts allow, and refuses the rest rather than marking it: a marked entry would be one
that every reader (catch-up, ``bus journal``, chains, tools to come) must remember to
skip, while a refused one is where every other refused message already is, in dead
letters, with its reason and its raw payload, replayable once the contract is fixed.

It declares every domain event (what ``bus graph``, ``bus services`` and the broker's
rules see) but subscribes with one handler per contract, on that contract's topic,
through the same pipeline as every consumer. An envelope of another type than its
topic's, or whose data fails its contract, is poison there: dead-lettered at once with
the reason (``bus deadletters --service journal``), never journaled. An envelope no
MongoDB document can hold (an integer past 8 bytes) is dead-lettered at once too. What
arrives on a topic no contract declares is not subscribed to, so not journaled either:
a new contract is journaled once the journal runs with it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bson.errors import InvalidDocument

from bus import BusSettings, Envelope, Service
from bus import journal as store
from bus.deadletters.retention import keep_purging
from bus.errors import PoisonMessageError
from contracts import Event, all_events

log = logging.getLogger("services.journal")

Record = Callable[[Event, Envelope], Awaitable[None]]

UNSTORABLE = (InvalidDocument, OverflowError, UnicodeEncodeError)
"""What MongoDB's encoding raises for an envelope no document can hold (an integer past
8 bytes, a lone surrogate, more than 16 MiB): trying again can't help."""


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def _recorder(event_type: type[Event]) -> Record:
    async def record(event: Event, envelope: Envelope) -> None:
        if _holds_nul(envelope.model_dump(mode="json")):
            # A NUL character is valid JSON, but PostgreSQL (FerretDB's backend) refuses
            # it in any string: no retry can store it.
            msg = "the journal cannot store this envelope: it holds a NUL character (\\u0000)"
            raise PoisonMessageError(msg)
        try:
            recorded = await store.record(envelope)
        except UNSTORABLE as exc:
            msg = f"the journal cannot store this envelope: {type(exc).__name__}: {exc}"
            raise PoisonMessageError(msg) from exc
        if not recorded:
            log.debug("journal: event %s was already recorded", envelope.id)

    record.__name__ = record.__qualname__ = f"record_{event_type.contract.type.replace('.', '_')}"
    return record


class JournalService(Service):
    """A service that declares every domain event and takes each on its contract's topic."""

    @property
    def consumes(self) -> list[type[Event]]:
        return []  # every event: ``consumes_every_event`` says so

    @property
    def consumes_every_event(self) -> bool:
        return True


def create_service(name: str = "journal", settings: BusSettings | None = None) -> Service:
    """The journal: every event the contracts declare, stored once in MongoDB under its id.

    Each replica holds plain (not shared) persistent subscriptions, one per contract,
    which Mosquitto keeps across its own restarts, so the journal misses nothing that
    other services may need to catch up on; replicas write the same ids, which the
    store's primary key makes harmless.
    """
    service = JournalService(name, settings=settings, shared=False)
    for event_type in all_events():
        service.on(event_type)(_recorder(event_type))
    keep_purging(service)
    return service


service = create_service()
