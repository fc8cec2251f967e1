"""One service: its handlers, its broker connection, its stores and its lifecycle."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import zmqtt
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Worker
from beanie import Document
from faststream.middlewares import AckPolicy
from faststream.mqtt.annotations import MQTTMessage
from pydantic import ValidationError

from bus import tracing
from bus._internal.broker import detach, make_broker, send
from bus._internal.infra import UNREACHABLE
from bus.catchup import CatchUp
from bus.config import ConfigWatcher, LiveConfig
from bus.constants import DEAD_LETTER_TOPIC, REPLAY_TOPIC, is_system_topic
from bus.context import current_envelope, derived_event_id
from bus.deadletters import (
    DeadLetter,
    DeadLetterSink,
    MongoDeadLetters,
    ReplayRequest,
    StoredDeadLetter,
)
from bus.dedup import Deduplicator
from bus.discovery import Announcer, presence_will
from bus.envelope import Envelope
from bus.errors import BusNotStartedError
from bus.handler import Handler, HandlerFunc
from bus.jobs.declare import Job, JobFunc, job_id
from bus.jobs.queue import enqueue, json_deserializer, json_serializer
from bus.jobs.worker import build_worker, stop_worker
from bus.journal import JournalEntry, record
from bus.metrics import JOBS_ENQUEUED
from bus.mongo import connect_mongo, release_mongo
from bus.pipeline import Pipeline
from bus.retry import RetryPolicy
from bus.settings import BusSettings
from contracts import Event, JobFailed, JobProgressed, JobSucceeded

if TYPE_CHECKING:
    from faststream.mqtt import MQTTBroker
    from faststream.mqtt.subscriber.usecase import MQTTBaseSubscriber
    from pydantic_settings import BaseSettings
    from pymongo import AsyncMongoClient

log = logging.getLogger("bus.service")

JOB_EVENTS = (JobProgressed, JobSucceeded, JobFailed)
"""What a service with jobs publishes on its own, besides its declared events."""

F = TypeVar("F", bound=HandlerFunc)
J = TypeVar("J", bound=JobFunc)
Hook = Callable[[], Awaitable[Any]]


class Service:
    """A named service on the bus.

    Every replica of a service joins the shared subscription
    ``$share/<name>/<topic>`` for each event it handles, so replicas split the
    stream while every other service still gets its own copy. Each replica
    keeps a persistent session under the client id ``<name>-<instance>`` (after
    ``<namespace>.`` in a namespace), so events published while it is down wait
    for it on the broker.

    An event is acknowledged only once it reached a final outcome: handled
    (recorded in Redis, so a redelivery is skipped), or dead-lettered in
    MongoDB after the handler's retry policy ran out.

    Example::

        svc = Service("indexer")

        @svc.on(DocumentUploaded)
        async def index(event: DocumentUploaded) -> None:
            ...

    Args:
        name: The service's name: its shared-subscription group and dedup scope.
        settings: Connections; default: from the environment.
        documents: Beanie documents the service stores, initialised at start.
        retry: The retry policy of handlers that declare none.
        shared: Replicas split the stream (``$share/<name>/…``). ``False`` gives each
            replica its own plain subscription and every event, as the journal needs.
        produces: The event types the service publishes (job events are added for
            services with jobs). Tools read it (``bus graph``, ``bus docs``); publishing
            a type not declared here logs a warning once.
        version: Announced in its presence (``bus services``); default: the installed
            package's version.
        config: The service's own settings, as the process built them (defaults, then
            the environment). The retained overrides on ``chorus/config/<name>``
            (``bus config set``) are applied to this object in place: read it (or
            ``service.config``) each time a value is needed. See :mod:`bus.config`.
        live: The fields of ``config`` that may change while the service runs; other
            changes wait for a restart. ``retry_attempts``, ``retry_initial_delay`` and
            ``retry_max_delay`` are live for every service: they replace those of
            ``retry``.
    """

    def __init__(
        self,
        name: str,
        *,
        settings: BusSettings | None = None,
        documents: Sequence[type[Document]] = (),
        retry: RetryPolicy | None = None,
        shared: bool = True,
        produces: Sequence[type[Event]] = (),
        version: str | None = None,
        config: BaseSettings | None = None,
        live: Collection[str] = (),
    ) -> None:
        if not name or any(c in name for c in "/+#$ "):
            msg = f"a service name must be a plain word, got {name!r}"
            raise ValueError(msg)
        self.name = name
        self.settings = settings or BusSettings()
        self.documents = list(documents)
        self.pipeline: Pipeline | None = None
        self.retry = retry or RetryPolicy()
        self.config = config
        self.live_config = LiveConfig(self, live)
        self.shared = shared
        self._produces = list(produces)
        self.version = version
        self._undeclared: set[str] = set()
        self.catch_up: CatchUp | None = None
        self.handlers: list[Handler] = []
        self.jobs: list[Job] = []
        self.redis: ArqRedis | None = None
        self.mongo: AsyncMongoClient[Any] | None = None
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._started: list[Hook] = []
        self._stopping: list[Hook] = []
        self._broker: MQTTBroker | None = None
        self._subscribers: list[MQTTBaseSubscriber] = []
        self._worker: Worker | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._announcer: Announcer | None = None
        self._config_watcher: ConfigWatcher | None = None

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of handlers that declare none; a new one applies from the
        next delivery (jobs keep the policy they were declared with)."""
        return self._retry

    @retry.setter
    def retry(self, policy: RetryPolicy) -> None:
        self._retry = policy
        if self.pipeline is not None:
            self.pipeline.retry = policy

    # -- declaring -------------------------------------------------------

    def on(self, event_type: type[Event], *, retry: RetryPolicy | None = None) -> Callable[[F], F]:
        """Register an async handler for one event type.

        The handler is returned unchanged, so it stays callable without the bus.

        Args:
            event_type: The contract class; the handler's first parameter gets an instance.
            retry: This handler's retry policy, instead of the service's.
        """

        def register(func: F) -> F:
            self._add(Handler.build(func, event_type, retry))
            return func

        return register

    def on_every_event(self, func: F) -> F:
        """Register an async handler that receives the envelope of every domain event."""
        self._add(Handler.build(func, None))
        return func

    def job(self, *, timeout: float = 300.0, retry: RetryPolicy | None = None) -> Callable[[J], J]:
        """Declare a long-running job: ``async def f(job: JobContext, **kwargs)``.

        Jobs run in the service's arq worker (``bus run`` runs one, ``bus worker``
        runs more); ask for one with :meth:`enqueue`.

        Args:
            timeout: Seconds one try may take.
            retry: Tries in all and backoff; default: the service's policy.
        """

        def register(func: J) -> J:
            declared = Job.build(func, timeout=timeout, retry=retry or self.retry)
            if any(j.name == declared.name for j in self.jobs):
                raise ValueError(f"{self.name} already has a job named {declared.name}")
            self.jobs.append(declared)
            return func

        return register

    async def enqueue(self, job: JobFunc, *, key: str, **kwargs: Any) -> bool:
        """Ask for ``job`` under ``key``; False if it is already queued, running or done.

        The job id is ``<service>:<job>:<key>`` (the service's name after
        ``<namespace>.`` in a namespace), so replicas or redeliveries that
        ask for the same work get it once. Inside a handler, the job's events
        continue the handled event's chain.
        """
        if self.redis is None:
            raise BusNotStartedError(f"{self.name} is not started")
        if not any(j.func is job for j in self.jobs):
            raise ValueError(f"{job.__qualname__} is not a job of {self.name}")
        scope = self.settings.scoped(self.name)
        with tracing.enqueueing(self.name, job.__name__, job_id(scope, job.__name__, key)):
            queued = await enqueue(
                self.redis, service=scope, job=job.__name__, key=key,
                kwargs=kwargs, cause=current_envelope(), trace=tracing.inject(),
            )  # fmt: skip
        outcome = "queued" if queued else "duplicate"
        JOBS_ENQUEUED.labels(self.name, job.__name__, outcome).inc()
        return queued

    def on_startup(self, func: Hook) -> Hook:
        """Run ``func`` once the stores are open, before the service subscribes."""
        self._startup.append(func)
        return func

    def on_shutdown(self, func: Hook) -> Hook:
        """Run ``func`` after the service has stopped consuming."""
        self._shutdown.append(func)
        return func

    def on_started(self, func: Hook) -> Hook:
        """Run ``func`` once the service is connected and may publish (an HTTP server, say)."""
        self._started.append(func)
        return func

    def on_stopping(self, func: Hook) -> Hook:
        """Run ``func`` first when the service stops, while it can still publish."""
        self._stopping.append(func)
        return func

    def _add(self, handler: Handler) -> None:
        if any(h.topic == handler.topic for h in self.handlers):
            msg = f"{self.name} already has a handler for {handler.topic}"
            raise ValueError(msg)
        wildcard = [h for h in [*self.handlers, handler] if h.event_type is None]
        if wildcard and len(self.handlers) > 0:
            # Overlapping subscriptions from one client each get their own copy.
            msg = f"{self.name}: a handler of every event cannot share a service with others"
            raise ValueError(msg)
        self.handlers.append(handler)

    @property
    def consumes(self) -> list[type[Event]]:
        return [h.event_type for h in self.handlers if h.event_type is not None]

    @property
    def consumes_every_event(self) -> bool:
        """Whether a handler takes every domain event (``on_every_event``), as the journal's."""
        return any(h.event_type is None for h in self.handlers)

    @property
    def produces(self) -> list[type[Event]]:
        """The declared event types, plus the job events if the service has jobs."""
        declared = list(self._produces)
        if self.jobs:
            declared += [e for e in JOB_EVENTS if e not in declared]
        return declared

    def _declares(self, event_type: type[Event]) -> bool:
        # On every publish: no list built, unlike ``produces``.
        return event_type in self._produces or (bool(self.jobs) and event_type in JOB_EVENTS)

    @property
    def connected(self) -> bool:
        """Whether the service is started and its broker connection is up right now."""
        return self._connection_id() is not None

    def _connection_id(self) -> int | None:
        if self._broker is None:
            return None
        try:
            connection_id: int | None = self._broker.config.client.connection_info.connection_id
        except (zmqtt.MQTTDisconnectedError, RuntimeError, AttributeError):
            return None
        return connection_id

    @property
    def client_id(self) -> str:
        """This replica's MQTT client id (see :meth:`BusSettings.client_id`)."""
        return self.settings.client_id(self.name)

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of what this replica publishes."""
        return f"/{self.name}/{self.settings.instance}"

    # -- running ---------------------------------------------------------

    def build_broker(self) -> MQTTBroker:
        """A broker with one QoS 1 shared subscription per handled topic, plus the
        service's private replay topic."""
        will = presence_will(self.settings, self.name, self.client_id)
        broker = make_broker(self.settings, client_id=self.client_id, persistent=True, will=will)
        self._subscribers = [self._subscribe(broker, handler) for handler in self.handlers]
        self._subscribers.append(self._subscribe_replays(broker))
        return broker

    def _subscribe(self, broker: MQTTBroker, handler: Handler) -> MQTTBaseSubscriber:
        async def consume(message: MQTTMessage) -> None:
            topic = self.settings.local_topic(message.raw_message.topic)
            if not is_system_topic(topic):
                await self._require_pipeline().deliver(handler, topic, message.body)
            await _ack(message)

        consume.__name__ = handler.func.__name__
        return self._shared_subscriber(broker, handler.topic, consume)

    def _subscribe_replays(self, broker: MQTTBroker) -> MQTTBaseSubscriber:
        async def replay(message: MQTTMessage) -> None:
            await self._replay(message.body)
            await _ack(message)

        return self._shared_subscriber(broker, REPLAY_TOPIC.format(service=self.name), replay)

    def _shared_subscriber(
        self, broker: MQTTBroker, topic: str, func: Callable[[MQTTMessage], Awaitable[None]]
    ) -> MQTTBaseSubscriber:
        subscriber = broker.subscriber(
            self.settings.wire_topic(topic),
            qos=zmqtt.QoS.AT_LEAST_ONCE,
            shared=self.name if self.shared else None,
            ack_policy=AckPolicy.MANUAL,
            no_reply=True,
        )
        subscriber(func)
        return subscriber

    async def _replay(self, body: bytes) -> None:
        try:
            request = ReplayRequest.model_validate_json(body)
        except ValidationError as exc:
            log.error("%s: ignored a malformed replay request: %s", self.name, exc)
            return
        handler = next((h for h in self.handlers if h.accepts(request.topic)), None)
        if handler is None:
            log.error("%s: no handler for replayed topic %s", self.name, request.topic)
            return
        log.info("%s: replaying dead letter %s", self.name, request.deadletter_id)
        await self._require_pipeline().deliver(
            handler, request.topic, request.payload.encode(), replay_of=request.deadletter_id
        )

    def _require_pipeline(self) -> Pipeline:
        if self.pipeline is None:
            raise BusNotStartedError(f"{self.name} is not started")
        return self.pipeline

    async def _open_stores(self) -> None:
        self.redis = await create_pool(
            RedisSettings.from_dsn(self.settings.redis_url),
            job_serializer=json_serializer,
            job_deserializer=json_deserializer,
        )
        self.mongo = await connect_mongo(
            self.settings.mongo_url, [StoredDeadLetter, JournalEntry, *self.documents]
        )
        self.pipeline = Pipeline(
            service=self.name,
            owner=self.client_id,
            retry=self.retry,
            dead_letters=MongoDeadLetters(),
            dedup=Deduplicator(
                self.redis,
                self.settings.scoped(self.name),
                ttl=self.settings.dedup_ttl,
                lease=self.settings.claim_lease,
            ),
            announce=self._announce,
        )

    async def _close_stores(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None
        if self.mongo is not None:
            await release_mongo(self.settings.mongo_url)
            self.mongo = None
        self.pipeline = None

    async def _announce(self, letter: DeadLetter) -> None:
        if self._broker is not None:
            await self._broker.publish(
                letter.model_dump_json().encode(),
                self.settings.wire_topic(DEAD_LETTER_TOPIC.format(service=self.name)),
                qos=zmqtt.QoS.AT_LEAST_ONCE,
            )

    async def start(self, *, consume: bool = True, work: bool = False) -> None:
        """Open the stores, run the startup hooks, connect, and start consuming.

        Args:
            consume: Subscribe to the handled events (``False``: only publish).
            work: Also run an arq worker for the service's jobs.
        """
        self._config_watcher = ConfigWatcher(self)
        await self._config_watcher.load()  # before anything is built from the settings
        await self._open_stores()
        for hook in self._startup:
            await hook()
        client_id = self.client_id if consume else f"{self.client_id}-worker"
        if consume:
            self._broker = self.build_broker()
        else:
            self._subscribers = []
            will = presence_will(self.settings, self.name, client_id)
            self._broker = make_broker(self.settings, client_id=client_id, will=will)
        await self._broker.start()
        await self._config_watcher.follow(self._broker)
        if consume and self.shared and self.consumes:
            await self._start_catch_up()
        if work and self.jobs:
            self._worker = self.build_worker()
            self._worker_task = asyncio.create_task(_supervise(self._worker, self.name))
        for hook in self._started:
            await hook()
        self._announcer = Announcer(self, self._broker, client_id=client_id, consuming=consume,
                                    working=self._worker is not None)  # fmt: skip
        await self._announcer.start()
        log.info(
            "%s started as %s on %s%s", self.name, self.client_id, self.settings.mqtt_url,
            f" with a worker for {len(self.jobs)} job(s)" if self._worker else "",
        )  # fmt: skip

    async def _start_catch_up(self) -> None:
        assert self.redis is not None
        self.catch_up = CatchUp(
            service=self.name,
            client_id=self.client_id,
            handlers=self.handlers,
            pipeline=self._require_pipeline(),
            redis=self.redis,
            connection_id=self._connection_id,
            ttl=self.settings.session_expiry,
        )
        await self.catch_up.start()

    def build_worker(self, *, burst: bool = False, max_jobs: int = 10) -> Worker:
        """An arq worker for this service's jobs, on its own queue."""
        if self.redis is None:
            raise BusNotStartedError(f"{self.name} is not started")
        return build_worker(
            self.name, self.jobs, queue=self.settings.scoped(self.name), redis=self.redis,
            dead_letters=self._require_dead_letters,
            publish=self.publish, keep_result=self.settings.dedup_ttl,
            max_jobs=max_jobs, burst=burst,
        )  # fmt: skip

    def _require_dead_letters(self) -> DeadLetterSink:
        return self._require_pipeline().dead_letters

    async def stop(self) -> None:
        """Stop consuming and working, keep the broker session, run the shutdown hooks,
        close the stores."""
        if self._broker is None and self.pipeline is None:
            return
        if self._announcer is not None:
            await self._announcer.stop()  # clears the presence while still connected
            self._announcer = None
        if self._config_watcher is not None:
            await self._config_watcher.stop()
            self._config_watcher = None
        for hook in reversed(self._stopping):
            await hook()
        if self.catch_up is not None:
            await self.catch_up.stop()
            self.catch_up = None
        if self._worker is not None and self._worker_task is not None:
            await stop_worker(self._worker, self._worker_task)
            self._worker = self._worker_task = None
        if self._broker is not None:
            await detach(self._subscribers)
            await self._broker.stop()
            self._broker = None
        for hook in reversed(self._shutdown):
            await hook()
        await self._close_stores()
        log.info("%s stopped", self.name)

    async def run(
        self, *, ready_file: Path | None = None, consume: bool = True, work: bool = True
    ) -> None:
        """Run until SIGINT or SIGTERM, then stop cleanly.

        Args:
            ready_file: Written once the service runs, removed on exit.
            consume: Handle events (``False`` for a worker-only process).
            work: Run an arq worker for the service's jobs, if it has any.
        """
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await self.start(consume=consume, work=work)
        try:
            if ready_file is not None:
                _mark_ready(ready_file, self.client_id)
            await stopping.wait()
        finally:
            if ready_file is not None:
                _clear_ready(ready_file)
            await self.stop()

    # -- publishing ------------------------------------------------------

    async def publish(self, event: Event, *, id: str | None = None) -> Envelope:
        """Publish an event at QoS 1.

        Inside a handler the new event continues the handled event's chain:
        same ``correlationid``, and ``causationid`` set to the handled event's id;
        its id is derived from the handled event's, so a handler that runs again
        on the same event publishes the same ids and consumers skip the repeats.
        """
        if self._broker is None:
            raise BusNotStartedError(f"{self.name} is not started")
        if not self._declares(type(event)) and event.contract.type not in self._undeclared:
            self._undeclared.add(event.contract.type)
            log.warning("%s publishes %s, which it does not declare in produces=", self.name,
                        event.contract.type)  # fmt: skip
        if id is None:
            id = derived_event_id(self.name, event.contract.type)
        topic = self.settings.wire_topic(event.contract.topic)
        with tracing.publishing(
            self.name, event, topic, source=self.source, cause=current_envelope(), id=id
        ) as envelope:
            if self.settings.journal_first and self.mongo is not None:
                await record(envelope)
            await send(self._broker, envelope, topic)
        return envelope


def _mark_ready(path: Path, client_id: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{client_id}\n")


def _clear_ready(path: Path) -> None:
    path.unlink(missing_ok=True)


async def _supervise(worker: Worker, name: str) -> None:
    """Keep the arq worker polling through Redis restarts (its loop dies on a lost
    connection; jobs already running carry on and finish once Redis is back)."""
    delay = 0.1
    while True:
        try:
            await worker.async_run()
            return
        except UNREACHABLE as exc:
            log.warning("%s: job worker lost Redis (%s), polling again in %.1fs", name, exc, delay)
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2)


async def _ack(message: MQTTMessage) -> None:
    """Acknowledge only now, after the final outcome: a crash before this means redelivery."""
    try:
        await message.ack()
    except zmqtt.MQTTError:
        # The connection dropped after the work was done. The broker will deliver the
        # event again on the resumed session, and dedup will skip it.
        log.debug("ack lost with the connection; the redelivery will be skipped")
