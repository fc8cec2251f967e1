"""The journal stores every domain event once, against the real broker and store."""

from collections.abc import Callable

from bus import BusSettings, Publisher, Service
from services.journal import JournalEntry, create_service
from tests.helpers import eventually, settled, uploaded


async def test_an_event_published_twice_is_journaled_once(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    journal = create_service(unique("journal"), settings=settings)
    services.append(journal)
    await journal.start()

    # Without journal-first publishing, so that only the journal service writes.
    async with Publisher(
        settings=settings.model_copy(update={"journal_first": False})
    ) as publisher:
        first = await publisher.publish(uploaded(1))
        await publisher.publish_envelope(first)  # the same id again: a redelivery
        last = await publisher.publish(uploaded(2))

    async def last_recorded() -> bool:
        return await JournalEntry.get(last.id) is not None

    await eventually(last_recorded, what="the journal to record the last event")
    # Deliveries run concurrently (BUS_CONCURRENCY): the last one recorded says nothing of
    # the first and its copy. Each delivery is counted once its outcome is final.
    await eventually(lambda: settled(journal.name) >= 3, what="all three deliveries to end")
    assert await JournalEntry.find(JournalEntry.id == first.id).count() == 1
    assert await JournalEntry.count() == 2

    entry = await JournalEntry.get(first.id)
    assert entry is not None
    assert entry.envelope["data"]["filename"] == "file-1.txt"
    assert entry.envelope["specversion"] == "1.0"
    assert entry.correlationid == first.id


async def test_a_publisher_writes_the_journal_before_it_sends(settings: BusSettings) -> None:
    # No journal service runs: an entry can only come from the publisher itself.
    unrecorded = settings.model_copy(update={"journal_first": False})
    async with Publisher(settings=settings) as publisher, Publisher(settings=unrecorded) as plain:
        sent = await publisher.publish(uploaded(1))
        entry = await JournalEntry.get(sent.id)
        assert entry is not None
        assert entry.envelope["id"] == sent.id

        not_journaled = await plain.publish(uploaded(2))
        assert await JournalEntry.get(not_journaled.id) is None
