"""A service: what it handles, what it publishes, its jobs and its settings.

:class:`Service` holds the declarations; :meth:`Service.start` builds a
:class:`~bus.runtime.Replica` that runs them (stores, broker connection, the path of
each message, catch-up, the job worker, presence and live config).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Hashable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from beanie import Document

from bus import tracing
from bus._internal.infra import until_reachable
from bus.config import LiveConfig
from bus.context import current_envelope, derived_event_id
from bus.envelope import Envelope
from bus.errors import BusNotStartedError
from bus.handler import Compensation, CompensationFunc, Handler, HandlerFunc
from bus.jobs.cron import Schedule, Scheduler
from bus.jobs.declare import Job, JobFunc, job_id
from bus.jobs.queue import enqueue
from bus.metrics import JOBS_ENQUEUED
from bus.requests import Queries
from bus.retry import RetryPolicy
from bus.runtime import Replica
from bus.settings import BusSettings
from contracts import Event, JobFailed, JobProgressed, JobSucceeded, Query, Reply

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

log = logging.getLogger("bus.service")

JOB_EVENTS = (JobProgressed, JobSucceeded, JobFailed)
"""What a service with jobs publishes on its own, besides its declared events."""

F = TypeVar("F", bound=HandlerFunc)
C = TypeVar("C", bound=CompensationFunc)
A = TypeVar("A", bound=Callable[..., Awaitable[Reply]])
R = TypeVar("R", bound=Reply)
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
        concurrency: Deliveries in flight at once per subscription (PUBACKs still go in
            arrival order); default: ``settings.concurrency`` (``BUS_CONCURRENCY``).
        live: The fields of ``config`` that may change while the service runs; other
            changes wait for a restart. ``retry_attempts``, ``retry_initial_delay`` and
            ``retry_max_delay`` are live for every service: they replace those of
            ``retry``.
        asks: The queries the service may send with :meth:`request` (the broker's rules
            refuse the others).
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
        concurrency: int | None = None,
        asks: Sequence[type[Query[Any]]] = (),
    ) -> None:
        if not name or any(c in name for c in "/+#$ "):
            msg = f"a service name must be a plain word, got {name!r}"
            raise ValueError(msg)
        self.name = name
        self.settings = settings or BusSettings()
        self.documents = list(documents)
        self.retry = retry or RetryPolicy()
        """The retry policy of handlers that declare none; a new one applies from the
        next delivery (jobs keep the policy they were declared with)."""
        self.config = config
        self.live_config = LiveConfig(self, live)
        self.shared = shared
        self.concurrency = concurrency
        """Deliveries in flight at once per subscription; None: ``settings.concurrency``."""
        self._produces = list(produces)
        self.version = version
        self._undeclared: set[str] = set()
        self.handlers: list[Handler] = []
        self.compensations: list[Compensation] = []
        self.jobs: list[Job] = []
        self.schedules: list[Schedule] = []
        self._scheduler = Scheduler(self.schedules, self._ask_for_tick)
        self.startup_hooks: list[Hook] = []
        self.shutdown_hooks: list[Hook] = []
        self.started_hooks: list[Hook] = []
        self.stopping_hooks: list[Hook] = []
        self._replica: Replica | None = None
        self.queries = Queries(self, asks)
        """What the service answers and asks (request/reply, :mod:`bus.requests`)."""

    # -- declaring -------------------------------------------------------

    def on(
        self,
        event_type: type[Event],
        *,
        retry: RetryPolicy | None = None,
        concurrency: int | None = None,
        key: Callable[[Any], Hashable] | None = None,
    ) -> Callable[[F], F]:
        """Register an async handler for one event type.

        The handler is returned unchanged, so it stays callable without the bus.

        Args:
            event_type: The contract class; the handler's first parameter gets an instance.
            retry: This handler's retry policy, instead of the service's.
            concurrency: Its deliveries in flight at once, instead of the service's.
            key: Events with the same ``key(event)`` (a document id, say) are handled one
                after another, in arrival order; the others in parallel.
        """

        def register(func: F) -> F:
            self._add(Handler.build(func, event_type, retry, concurrency=concurrency, key=key))
            return func

        return register

    def on_every_event(self, func: F) -> F:
        """Register an async handler that receives the envelope of every domain event."""
        self._add(Handler.build(func, None))
        return func

    def compensate(self, event_type: type[Event]) -> Callable[[C], C]:
        """Register what to do once the service gave up on an event of ``event_type``
        for good (dead-lettered as poison, or failed after its retries):
        ``async def f(event: E | None, gave_up: GaveUp)``.

        It runs before the event is acknowledged, again if the event comes back after a
        crash or a replay fails again: make it idempotent (what it publishes gets ids
        derived from the event, so consumers skip a repeat). ``event`` is None for data
        that fails the contract (``gave_up.envelope`` has what came); bytes that are no
        CloudEvent and events from a source that does not produce the type are never
        compensated. A compensation that fails is logged and tried again by the
        service's retry policy, never raised. The function is returned unchanged, so it
        stays callable without the bus. See :mod:`bus.runtime.compensation`.
        """

        def register(func: C) -> C:
            declared = Compensation.build(func, event_type)
            if any(c.topic == declared.topic for c in self.compensations):
                raise ValueError(f"{self.name} already compensates {declared.topic}")
            self.compensations.append(declared)
            return func

        return register

    def job(
        self,
        *,
        timeout: float = 300.0,
        retry: RetryPolicy | None = None,
        on_give_up: CompensationFunc | None = None,
    ) -> Callable[[J], J]:
        """Declare a long-running job: ``async def f(job: JobContext, **kwargs)``.

        Jobs run in the service's arq worker (``bus run`` runs one, ``bus worker``
        runs more); ask for one with :meth:`enqueue`.

        Args:
            timeout: Seconds one try may take; a try that takes longer is ended and
                counts as a failure (retried by ``retry``).
            retry: Tries in all and backoff; default: the service's policy.
            on_give_up: ``async def f(gave_up: GaveUp)``, run once the job failed for
                good (after its dead letter and ``JobFailed``); ``gave_up.kwargs`` has the
                job's arguments. Idempotent, like :meth:`compensate`.
        """

        def register(func: J) -> J:
            declared = Job.build(
                func, timeout=timeout, retry=retry or self.retry, on_give_up=on_give_up
            )
            if any(j.name == declared.name for j in self.jobs):
                raise ValueError(f"{self.name} already has a job named {declared.name}")
            self.jobs.append(declared)
            return func

        return register

    def cron(
        self, expression: str, *, timeout: float = 300.0, retry: RetryPolicy | None = None
    ) -> Callable[[J], J]:
        """Declare a job that runs at each tick of ``expression``, once per tick however
        many replicas run: ``async def f(job: JobContext, tick: str)``.

        ``expression`` is a cron expression in UTC: five fields, or six with seconds
        last (``*/10 * * * * *``). ``tick`` is the tick's time, ``2026-11-29T20:05:00Z``,
        which is also the job's key. A tick when no replica runs is skipped. The run is
        an ordinary job (``timeout``, ``retry``, dead letter): see :mod:`bus.jobs.cron`.
        """
        schedule = Schedule(expression, "")

        def register(func: J) -> J:
            self.job(timeout=timeout, retry=retry)(func)
            if not self.schedules:
                self.on_started(self._scheduler.start)
                self.on_stopping(self._scheduler.stop)
            self.schedules.append(Schedule(schedule.expression, func.__name__))
            return func

        return register

    async def _ask_for_tick(self, schedule: Schedule, tick: datetime) -> bool:
        func = next(j.func for j in self.jobs if j.name == schedule.job)
        key = schedule.key(tick)
        return await until_reachable(
            lambda: self.enqueue(func, key=key, tick=key), what=f"{self.name} schedule"
        )

    async def enqueue(self, job: JobFunc, *, key: str, **kwargs: Any) -> bool:
        """Ask for ``job`` under ``key``; False if it is already queued, running or done.

        The job id is ``<service>:<job>:<key>`` (the service's name after
        ``<namespace>.`` in a namespace), so replicas or redeliveries that
        ask for the same work get it once. Inside a handler, the job's events
        continue the handled event's chain.
        """
        stores = self.replica.stores
        if stores is None:
            raise BusNotStartedError(f"{self.name} runs without stores (in memory)")
        if not any(j.func is job for j in self.jobs):
            raise ValueError(f"{job.__qualname__} is not a job of {self.name}")
        scope = self.settings.scoped(self.name)
        with tracing.enqueueing(self.name, job.__name__, job_id(scope, job.__name__, key)):
            queued = await enqueue(
                stores.redis, service=scope, job=job.__name__, key=key,
                kwargs=kwargs, cause=current_envelope(), trace=tracing.inject(),
            )  # fmt: skip
        outcome = "queued" if queued else "duplicate"
        JOBS_ENQUEUED.labels(self.name, job.__name__, outcome).inc()
        return queued

    def responds(self, query_type: type[Query[Any]]) -> Callable[[A], A]:
        """Answer a query: ``async def f(query: Q) -> QReply``, run by one replica per
        query (a shared subscription), its return value sent back as the reply.

        An exception becomes an error reply (the requester raises
        :class:`~bus.requests.RequestFailedError` with its message), never a retry or a
        dead letter. Queries are not deduplicated: one asked twice is answered twice, so
        an answer should only read. The function is returned unchanged. See
        :mod:`bus.requests`.
        """
        return self.queries.responds(query_type)

    async def request(
        self,
        query: Query[R],
        *,
        timeout: float = 2.0,  # noqa: ASYNC109 - it travels: the query's expiry on the broker
    ) -> R:
        """Ask ``query`` and wait for its typed reply (declare it in ``asks=``).

        Raises:
            NoResponderError: no service answering it is connected (said at once).
            RequestTimeoutError: no reply within ``timeout`` seconds.
            RequestFailedError: the responder answered with an error.
            RequestNotAllowedError: the broker's rules refuse this service the query.
        """
        return await self.queries.request(query, timeout)

    @property
    def answers(self) -> list[type[Query[Any]]]:
        """The queries the service answers (``@service.responds``)."""
        return [a.query_type for a in self.queries.answers]

    @property
    def asks(self) -> list[type[Query[Any]]]:
        """The queries the service may send (``asks=``)."""
        return list(self.queries.asks)

    def on_startup(self, func: Hook) -> Hook:
        """Run ``func`` once the stores are open, before the service subscribes."""
        self.startup_hooks.append(func)
        return func

    def on_shutdown(self, func: Hook) -> Hook:
        """Run ``func`` after the service has stopped consuming."""
        self.shutdown_hooks.append(func)
        return func

    def on_started(self, func: Hook) -> Hook:
        """Run ``func`` once the service is connected and may publish (an HTTP server, say)."""
        self.started_hooks.append(func)
        return func

    def on_stopping(self, func: Hook) -> Hook:
        """Run ``func`` first when the service stops, while it can still publish."""
        self.stopping_hooks.append(func)
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
    def job_names(self) -> list[str]:
        return [j.name for j in self.jobs]

    @property
    def connected(self) -> bool:
        """Whether the service is started and its broker connection is up right now."""
        return self._replica is not None and self._replica.connected

    @property
    def client_id(self) -> str:
        """This replica's MQTT client id (see :meth:`BusSettings.client_id`)."""
        return self.settings.client_id(self.name)

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of what this replica publishes."""
        return f"/{self.name}/{self.settings.instance}"

    # -- running ---------------------------------------------------------

    @property
    def replica(self) -> Replica:
        """The running replica (its stores, connection and pipeline).

        Raises:
            BusNotStartedError: the service is not started.
        """
        if self._replica is None:
            raise BusNotStartedError(f"{self.name} is not started")
        return self._replica

    @property
    def started(self) -> bool:
        """Whether a replica runs: its stores are open and its pipeline is built."""
        return self._replica is not None and self._replica.running

    async def start(self, *, consume: bool = True, work: bool = False) -> None:
        """Open the stores, run the startup hooks, connect, and start consuming.

        Args:
            consume: Subscribe to the handled events (``False``: only publish).
            work: Also run an arq worker for the service's jobs.
        """
        replica = self._replica = Replica(self, consume=consume, work=work)
        try:
            await replica.start()
        except BaseException:
            try:  # whatever it had started: connections, subscriptions, tasks
                await replica.stop()
            except Exception:
                log.exception("%s: cleaning up after a failed start failed", self.name)
            self._replica = None
            raise

    async def stop(self) -> None:
        """Stop consuming and working, keep the broker session, run the shutdown hooks,
        close the stores."""
        if self._replica is None:
            return
        await self._replica.stop()  # on an error, stop() may be called again
        self._replica = None

    # -- publishing ------------------------------------------------------

    async def publish(
        self, event: Event, *, id: str | None = None, binary: bool = False
    ) -> Envelope:
        """Publish an event at QoS 1.

        Inside a handler the new event continues the handled event's chain:
        same ``correlationid``, and ``causationid`` set to the handled event's id;
        its id is derived from the handled event's, so a handler that runs again
        on the same event publishes the same ids and consumers skip the repeats.

        ``binary`` sends it in the CloudEvents binary content mode (attributes as MQTT 5
        user properties, ``data`` as the payload: see :mod:`bus.envelope`), for
        consumers outside the bus that want it; else structured mode. Services of the
        bus read both.
        """
        outbox = self.replica.outbox
        if outbox is None:
            raise BusNotStartedError(f"{self.name} is not connected")
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
            await outbox.send(envelope, topic, binary=binary)
        return envelope
