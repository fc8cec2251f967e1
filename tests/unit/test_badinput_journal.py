"""The journal declares every domain event, and takes each on its own contract's topic,
so that the pipeline checks an envelope's type and data against that contract (the
refusals themselves are in ``tests/integration/test_badinput_journal.py``)."""

from __future__ import annotations

from contracts import all_events
from services.journal import create_service


def test_the_journal_declares_every_event_and_checks_each_on_its_own_topic() -> None:
    journal = create_service("journal-declared")
    assert journal.consumes_every_event
    assert journal.consumes == []
    assert sorted(h.topic for h in journal.handlers) == sorted(
        event.contract.topic for event in all_events()
    )
    assert all(h.event_type is not None for h in journal.handlers)
