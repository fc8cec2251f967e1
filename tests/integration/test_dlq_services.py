"""Dead letters of real failing handlers and jobs, grouped and discarded, on the real stack."""

from collections.abc import Callable

import aiomqtt

from bus import BusSettings, Publisher, RetryPolicy, Service
from bus.constants import ARQ_RESULT_KEY
from bus.deadletters import StoredDeadLetter, group_letters
from bus.deadletters.store import LetterFilter, discard_letters, summaries
from bus.jobs import JobContext
from contracts import DocumentUploaded
from tests.helpers import eventually, jobs_finished, ops_login, uploaded

ONCE = RetryPolicy(attempts=1)


async def test_letters_of_a_failing_handler_form_one_group_that_is_discarded_alone(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    service = Service(unique("fragile"), settings=settings)

    @service.on(DocumentUploaded, retry=ONCE)
    async def on_uploaded(event: DocumentUploaded) -> None:
        raise ConnectionRefusedError(f"no index for {event.document_id} after 3 tries")

    services.append(service)
    await service.start()
    async with Publisher(settings=settings) as publisher:
        for n in range(3):
            await publisher.publish(uploaded(n))
    login = ops_login(settings)
    async with aiomqtt.Client(
        "localhost", 1883, username=login.username, password=login.password
    ) as raw:
        await raw.publish(settings.wire_topic("documents/uploaded/v1"), b"not json", qos=1)

    async def four_letters() -> bool:
        return await StoredDeadLetter.find(StoredDeadLetter.service == service.name).count() == 4

    await eventually(four_letters, what="four dead letters")
    groups = group_letters(await summaries(LetterFilter(service=service.name)))

    assert [(g.kind, g.count) for g in groups] == [("failed", 3), ("poison", 1)]
    failed = groups[0]
    assert failed.error_type == "builtins.ConnectionRefusedError"
    assert failed.shape == "ConnectionRefusedError: no index for <uuid> after <n> tries"
    in_group = await summaries(LetterFilter(group=failed.key))
    assert len(in_group) == 3

    assert await discard_letters([s.id for s in in_group], settings) == 3
    left = await StoredDeadLetter.find(StoredDeadLetter.service == service.name).to_list()
    assert [each.kind for each in left] == ["poison"]


async def test_a_discarded_job_letter_no_longer_blocks_its_key(
    settings: BusSettings, services: list[Service], unique: Callable[[str], str]
) -> None:
    broken = {"yes": True}
    runs: list[str] = []
    service = Service(unique("inspector"), settings=settings)

    @service.job(timeout=30, retry=ONCE)
    async def inspect(job: JobContext, document_id: str) -> str:
        runs.append(document_id)
        if broken["yes"]:
            raise OSError(f"cannot read {document_id}")
        return document_id

    services.append(service)
    await service.start(work=True)
    assert await service.enqueue(inspect, key="doc-1", document_id="doc-1")
    await eventually(lambda: runs == ["doc-1"], what="the job to run")
    await eventually(lambda: jobs_finished(service.name), what="the job to end")
    [letter] = await StoredDeadLetter.find(StoredDeadLetter.kind == "job").to_list()
    job_id = letter.id.removeprefix("job:")
    stores = service.replica.stores
    assert stores is not None

    async def failure_kept() -> bool:
        return bool(await stores.redis.exists(ARQ_RESULT_KEY.format(job_id=job_id)))

    # arq keeps the failure: the same key is refused, as the README says.
    await eventually(failure_kept, what="arq to keep the failure")
    assert not await service.enqueue(inspect, key="doc-1", document_id="doc-1")

    assert await discard_letters([letter.id], settings) == 1

    assert await StoredDeadLetter.get(letter.id) is None
    broken["yes"] = False
    assert await service.enqueue(inspect, key="doc-1", document_id="doc-1")
    await eventually(lambda: runs == ["doc-1", "doc-1"], what="the job to run again")
