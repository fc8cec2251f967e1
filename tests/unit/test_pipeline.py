"""The path of one message through a replica's pipeline, driven directly, without servers.

Each test calls :meth:`Pipeline.deliver` with dead letters in memory and an in-memory
stand-in for the Deduplicator that follows its claim script's rules (the script itself is
tested against Redis in ``tests/integration/test_dedup.py``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY

from bus.deadletters import DeadLetter, MemoryDeadLetters
from bus.dedup import Claim, Deduplicator
from bus.envelope import Envelope
from bus.errors import PoisonMessageError
from bus.handler import Handler
from bus.retry import RetryPolicy
from bus.runtime import Decoded, Delivery, Outcome, Pipeline, Via
from contracts import DocumentUploaded
from tests.helpers import uploaded

TOPIC = DocumentUploaded.contract.topic
OWNER = "reader-1"
FAST = RetryPolicy(attempts=3, initial_delay=0.0, max_delay=0.0)
"""Three tries, no wait between them."""


class MemoryDeduplicator(Deduplicator):
    """The Deduplicator's methods over a set and a dict, recording each call.

    Same rules as the claim script for one owner: done → DONE, no claim or our own
    claim → ACQUIRED. Another owner's claim is not modelled (every test here is one
    replica); it fails the test instead of waiting.
    """

    def __init__(self) -> None:  # no Redis: nothing of the parent's state is used
        self.done: set[str] = set()
        self.claims: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []

    async def claim(self, event_id: str, owner: str) -> Claim:
        self.calls.append(("claim", event_id))
        if event_id in self.done:
            return Claim.DONE
        holder = self.claims.setdefault(event_id, owner)
        assert holder == owner, f"{event_id} is claimed by {holder}, not {owner}"
        return Claim.ACQUIRED

    async def complete(self, event_id: str) -> None:
        self.calls.append(("complete", event_id))
        self.done.add(event_id)
        self.claims.pop(event_id, None)

    async def release(self, event_id: str) -> None:
        self.calls.append(("release", event_id))
        self.claims.pop(event_id, None)

    async def forget(self, event_id: str) -> None:
        self.calls.append(("forget", event_id))
        self.done.discard(event_id)


class Notices:
    """Records each announced letter."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def announce(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


class BrokenNotices:
    async def announce(self, letter: DeadLetter) -> None:
        raise ConnectionError("broker unreachable")


class Recorder:
    """A DocumentUploaded handler that records what it gets and raises ``failures``
    in turn (then succeeds)."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.seen: list[tuple[DocumentUploaded, Envelope]] = []

        async def on_uploaded(event: DocumentUploaded, envelope: Envelope) -> None:
            self.seen.append((event, envelope))
            if self.failures:
                raise self.failures.pop(0)

        self.handler = Handler.build(on_uploaded, DocumentUploaded)


def failing(error: BaseException, times: int = 10) -> Recorder:
    return Recorder(*[error] * times)


def message(n: int = 0) -> tuple[Envelope, bytes]:
    envelope = Envelope.wrap(uploaded(n), source="/test/1")
    return envelope, envelope.to_bytes()


def make_pipeline(
    *,
    retry: Callable[[], RetryPolicy] = lambda: FAST,
    notices: Notices | BrokenNotices | None = None,
) -> tuple[Pipeline, MemoryDeduplicator, MemoryDeadLetters]:
    dedup, dead_letters = MemoryDeduplicator(), MemoryDeadLetters()
    pipeline = Pipeline(
        service=f"reader-{uuid.uuid4().hex[:6]}", owner=OWNER, retry=retry,
        dead_letters=dead_letters, dedup=dedup, notices=notices,
    )  # fmt: skip
    return pipeline, dedup, dead_letters


def stored_letter(dead_letters: MemoryDeadLetters, envelope: Envelope) -> DeadLetter:
    """A letter as if ``envelope`` had failed before (what a replay refers to)."""
    letter = DeadLetter(
        service="reader", topic=TOPIC, kind="failed", reason="RuntimeError: earlier",
        event_id=envelope.id, event_type=envelope.type, payload=envelope.to_bytes().decode(),
    )  # fmt: skip
    dead_letters.letters[letter.id] = letter
    return letter


# -- handled and duplicate ----------------------------------------------------


async def test_a_handled_event_is_recorded_as_done() -> None:
    pipeline, dedup, dead_letters = make_pipeline()
    recorder = Recorder()
    envelope, payload = message(1)

    outcome = await pipeline.deliver(Delivery(recorder.handler, TOPIC, payload))

    assert outcome is Outcome.HANDLED
    [(event, received)] = recorder.seen
    assert event.filename == "file-1.txt"
    assert received.id == envelope.id
    assert dedup.calls == [("claim", envelope.id), ("complete", envelope.id)]
    assert dedup.done == {envelope.id}
    assert dedup.claims == {}
    assert dead_letters.letters == {}


async def test_an_event_already_done_is_a_duplicate_and_not_handled() -> None:
    pipeline, dedup, dead_letters = make_pipeline()
    recorder = Recorder()
    envelope, payload = message()
    dedup.done.add(envelope.id)

    outcome = await pipeline.deliver(Delivery(recorder.handler, TOPIC, payload))

    assert outcome is Outcome.DUPLICATE
    assert recorder.seen == []
    assert dedup.calls == [("claim", envelope.id)]
    assert dead_letters.letters == {}


async def test_a_replayed_letter_already_handled_is_resolved() -> None:
    pipeline, dedup, dead_letters = make_pipeline()
    recorder = Recorder()
    envelope, payload = message()
    letter = stored_letter(dead_letters, envelope)
    dedup.done.add(envelope.id)

    outcome = await pipeline.deliver(
        Delivery(recorder.handler, TOPIC, payload, via=Via.REPLAY, replay_of=letter.id)
    )

    assert outcome is Outcome.DUPLICATE
    assert recorder.seen == []
    assert dead_letters.letters == {}


async def test_a_replayed_letter_handled_now_is_resolved() -> None:
    pipeline, dedup, dead_letters = make_pipeline()
    recorder = Recorder()
    envelope, payload = message()
    letter = stored_letter(dead_letters, envelope)

    outcome = await pipeline.deliver(
        Delivery(recorder.handler, TOPIC, payload, via=Via.REPLAY, replay_of=letter.id)
    )

    assert outcome is Outcome.HANDLED
    assert len(recorder.seen) == 1
    assert dedup.done == {envelope.id}
    assert dead_letters.letters == {}


# -- poison ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason", "event_id"),
    [
        (b"{oops", "not valid JSON", None),
        (b'{"hello": "world"}', "not a CloudEvent", None),
        (
            b'{"specversion": "1.0", "id": "e-1", "source": "/x", "type": "documents.failed.v1"}',
            "event type 'documents.failed.v1' arrived on the topic of 'documents.uploaded.v1'",
            "e-1",
        ),
        (
            b'{"specversion": "1.0", "id": "e-2", "source": "/x", "type": "documents.uploaded.v1",'
            b' "data": {"owner": "bob"}}',
            "documents.uploaded.v1 data fails its contract: document_id: Field required",
            "e-2",
        ),
    ],
    ids=["unreadable", "not-a-cloudevent", "wrong-type", "fails-contract"],
)
async def test_poison_is_dead_lettered_at_once_without_a_claim(
    payload: bytes, reason: str, event_id: str | None
) -> None:
    pipeline, dedup, dead_letters = make_pipeline()
    recorder = Recorder()

    outcome = await pipeline.deliver(Delivery(recorder.handler, TOPIC, payload))

    assert outcome is Outcome.DEAD_LETTERED
    assert recorder.seen == []
    assert dedup.calls == []
    [letter] = dead_letters.letters.values()
    assert letter.kind == "poison"
    assert reason in letter.reason
    assert letter.attempts == 1
    assert letter.event_id == event_id
    assert letter.payload == payload.decode()
    assert letter.service == pipeline.service
    assert letter.topic == TOPIC


async def test_poison_raised_by_the_handler_is_not_retried() -> None:
    pipeline, dedup, dead_letters = make_pipeline()
    recorder = failing(PoisonMessageError("the file it names is not a document"))
    envelope, payload = message()

    outcome = await pipeline.deliver(Delivery(recorder.handler, TOPIC, payload))

    assert outcome is Outcome.DEAD_LETTERED
    assert len(recorder.seen) == 1
    [letter] = dead_letters.letters.values()
    assert letter.kind == "poison"
    assert letter.reason == "the file it names is not a document"
    assert letter.attempts == 1
    assert letter.event_id == envelope.id
    assert letter.envelope == envelope.model_dump(mode="json", exclude_none=True)
    assert dedup.calls == [("claim", envelope.id), ("release", envelope.id)]


# -- retries and failures -------------------------------------------------------


async def test_a_retryable_error_is_tried_again_until_the_handler_succeeds() -> None:
    pipeline, dedup, dead_letters = make_pipeline()
    recorder = Recorder(RuntimeError("flaky"), RuntimeError("still flaky"))
    envelope, payload = message()
    labels = {"service": pipeline.service, "type": envelope.type}

    outcome = await pipeline.deliver(Delivery(recorder.handler, TOPIC, payload))

    assert outcome is Outcome.HANDLED
    assert len(recorder.seen) == 3
    assert REGISTRY.get_sample_value("chorus_handler_retries_total", labels) == 2
    assert dedup.calls == [("claim", envelope.id), ("complete", envelope.id)]
    assert dead_letters.letters == {}


@pytest.mark.parametrize(
    ("error", "attempts"),
    [(ValueError("size is negative"), 1), (RuntimeError("down for good"), FAST.attempts)],
    ids=["not-retryable", "exhausted"],
)
async def test_a_failing_handler_is_dead_lettered_and_its_claim_released(
    error: Exception, attempts: int
) -> None:
    pipeline, dedup, dead_letters = make_pipeline()
    recorder = failing(error)
    envelope, payload = message()

    outcome = await pipeline.deliver(Delivery(recorder.handler, TOPIC, payload))

    assert outcome is Outcome.DEAD_LETTERED
    assert len(recorder.seen) == attempts
    [letter] = dead_letters.letters.values()
    assert letter.kind == "failed"
    assert letter.attempts == attempts
    assert letter.reason == f"{type(error).__name__}: {error}"
    assert letter.error_type == f"builtins.{type(error).__name__}"
    assert letter.error_message == str(error)
    assert letter.event_id == envelope.id
    assert letter.payload == payload.decode()
    assert dedup.calls == [("claim", envelope.id), ("release", envelope.id)]
    assert dedup.done == set()
    assert dedup.claims == {}


async def test_a_replay_that_fails_again_updates_its_letter() -> None:
    notices = Notices()
    pipeline, dedup, dead_letters = make_pipeline(notices=notices)
    recorder = failing(RuntimeError("still broken"))
    envelope, payload = message()
    letter = stored_letter(dead_letters, envelope)

    outcome = await pipeline.deliver(
        Delivery(recorder.handler, TOPIC, payload, via=Via.REPLAY, replay_of=letter.id)
    )

    assert outcome is Outcome.DEAD_LETTERED
    [(letter_id, updated)] = dead_letters.letters.items()
    assert letter_id == letter.id
    assert updated.replays == 1
    assert updated.reason == "RuntimeError: still broken"
    assert updated.attempts == FAST.attempts
    assert dedup.claims == {}
    assert [n.id for n in notices.letters] == [letter.id], "the notice names the stored letter"


async def test_the_retry_policy_is_read_at_each_delivery() -> None:
    policies = [RetryPolicy(attempts=2, initial_delay=0.0, max_delay=0.0)]
    pipeline, _, dead_letters = make_pipeline(retry=lambda: policies[-1])

    first, second = failing(RuntimeError("down")), failing(RuntimeError("down"))
    await pipeline.deliver(Delivery(first.handler, TOPIC, message(1)[1]))
    policies.append(RetryPolicy(attempts=4, initial_delay=0.0, max_delay=0.0))
    await pipeline.deliver(Delivery(second.handler, TOPIC, message(2)[1]))

    assert (len(first.seen), len(second.seen)) == (2, 4)
    assert sorted(letter.attempts for letter in dead_letters.letters.values()) == [2, 4]


# -- notices ----------------------------------------------------------------------


async def test_each_stored_letter_is_announced() -> None:
    notices = Notices()
    pipeline, _, dead_letters = make_pipeline(notices=notices)

    await pipeline.deliver(Delivery(Recorder().handler, TOPIC, b"{oops"))
    await pipeline.deliver(Delivery(failing(ValueError("no")).handler, TOPIC, message()[1]))

    assert notices.letters == list(dead_letters.letters.values())
    assert [letter.kind for letter in notices.letters] == ["poison", "failed"]


async def test_a_notice_that_cannot_be_sent_does_not_change_the_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pipeline, _, dead_letters = make_pipeline(notices=BrokenNotices())

    with caplog.at_level(logging.WARNING, logger="bus.pipeline"):
        outcome = await pipeline.deliver(
            Delivery(failing(ValueError("no")).handler, TOPIC, message()[1])
        )

    assert outcome is Outcome.DEAD_LETTERED
    [letter] = dead_letters.letters.values()
    assert f"could not announce dead letter {letter.id}" in caplog.text


# -- cancellation and concurrency -------------------------------------------------


async def test_a_cancelled_delivery_releases_its_claim_then_propagates() -> None:
    pipeline, dedup, dead_letters = make_pipeline()
    entered, gate = asyncio.Event(), asyncio.Event()

    async def slow(event: DocumentUploaded) -> None:
        entered.set()
        await gate.wait()

    envelope, payload = message()
    task = asyncio.create_task(pipeline.deliver(Delivery(Handler.build(slow, DocumentUploaded),
                                                         TOPIC, payload)))  # fmt: skip
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert dedup.calls == [("claim", envelope.id), ("release", envelope.id)]
    assert dedup.claims == {}
    assert dead_letters.letters == {}
    # Nothing of the cancelled delivery holds the event back.
    recorder = Recorder()
    assert await pipeline.deliver(Delivery(recorder.handler, TOPIC, payload)) is Outcome.HANDLED
    assert len(recorder.seen) == 1


async def test_two_copies_of_one_event_in_one_process_take_turns() -> None:
    pipeline, dedup, _ = make_pipeline()
    entered, gate = asyncio.Event(), asyncio.Event()
    calls: list[str] = []

    async def blocking(event: DocumentUploaded, envelope: Envelope) -> None:
        calls.append(envelope.id)
        entered.set()
        await gate.wait()

    handler = Handler.build(blocking, DocumentUploaded)
    envelope, payload = message()
    live = asyncio.create_task(pipeline.deliver(Delivery(handler, TOPIC, payload)))
    await entered.wait()
    caught_up = asyncio.create_task(
        pipeline.deliver(Delivery(handler, TOPIC, payload, via=Via.CATCH_UP))
    )
    # Let the second copy run as far as it can: with one owner its claim would succeed,
    # so only the pipeline's turn-taking keeps it out of the handler.
    for _ in range(10):
        await asyncio.sleep(0)
    gate.set()
    outcomes = await asyncio.gather(live, caught_up)

    assert list(outcomes) == [Outcome.HANDLED, Outcome.DUPLICATE]
    assert calls == [envelope.id]
    assert dedup.calls == [("claim", envelope.id), ("complete", envelope.id),
                           ("claim", envelope.id)]  # fmt: skip


# -- already decoded --------------------------------------------------------------


async def test_a_delivery_already_decoded_is_not_read_again() -> None:
    pipeline, dedup, dead_letters = make_pipeline()
    recorder = Recorder()
    event = uploaded(3)
    envelope = Envelope.wrap(event, source="/test/1")

    outcome = await pipeline.deliver(
        Delivery(recorder.handler, TOPIC, b"not even JSON", via=Via.CATCH_UP,
                 decoded=Decoded(envelope, event))
    )  # fmt: skip

    assert outcome is Outcome.HANDLED
    [(argument, received)] = recorder.seen
    assert argument is event
    assert received is envelope
    assert dedup.done == {envelope.id}
    assert dead_letters.letters == {}
