"""One running replica of a service: what :meth:`bus.Service.start` builds and owns.

A :class:`bus.Service` is what a service *is* (its handlers, jobs, events and settings);
a :class:`Replica` is what *runs* it in one process: the stores, the broker connection,
the pipeline every message takes, the inbox that feeds it, catch-up, the job worker,
the presence and the live config. It starts them in order and stops them in reverse.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bus._internal.broker import make_broker, raw_client
from bus._internal.connection import ConnectionWatcher
from bus.config import ConfigWatcher
from bus.constants import DOMAIN_EVENTS_FILTER
from bus.deadletters import DeadLetterSink, MongoDeadLetters
from bus.dedup import Deduplicator
from bus.discovery import Announcer, Presence, check_health, describe, presence_will
from bus.discovery.topics import instance_of, presence_topic
from bus.errors import BusNotStartedError
from bus.jobs.worker import build_worker
from bus.runtime.catchup import CatchUp
from bus.runtime.compensation import Compensations, Notices
from bus.runtime.inbox import Inbox
from bus.runtime.outbox import Outbox
from bus.runtime.pipeline import Delivery, Outcome, Pipeline
from bus.runtime.sessions import SessionFilters
from bus.runtime.stores import Stores
from bus.runtime.worker import JobWorker
from bus.security.producers import Producers

if TYPE_CHECKING:
    from arq.worker import Worker

    from bus._internal.broker import Broker
    from bus.discovery import Health
    from bus.service import Service

log = logging.getLogger("bus.service")


class Replica:
    """Runs one replica of ``service``.

    Args:
        service: The declarations it runs.
        consume: Subscribe to the handled events (``False``: a worker-only process,
            which only publishes).
        work: Run an arq worker for the service's jobs, if it has any.
    """

    def __init__(self, service: Service, *, consume: bool = True, work: bool = False) -> None:
        self.service = service
        self.settings = service.settings
        self.consume = consume
        self.work = work and bool(service.jobs)
        self.client_id = service.client_id if consume else f"{service.client_id}-worker"
        self.started_at = datetime.now(UTC)
        self.running = False
        """Stores open and pipeline built (``/healthz``), until :meth:`stop` begins."""
        self.stores: Stores | None = None
        self.pipeline: Pipeline | None = None
        self.broker: Broker | None = None
        self.outbox: Outbox | None = None
        self.inbox = Inbox(
            service.name, service.handlers, self.deliver, self.settings,
            shared=service.shared, concurrency=service.concurrency or self.settings.concurrency,
        )  # fmt: skip
        self.config = ConfigWatcher(service)
        self.producers = Producers(self.settings, service.name)
        self.watcher: ConnectionWatcher | None = None
        self.catch_up: CatchUp | None = None
        self.worker: JobWorker | None = None
        self.announcer: Announcer | None = None
        self.ops_url: str | None = None
        """Where the replica's process serves its ops endpoint, said in its presence: set
        by :func:`bus.ops.serve_ops` once its server listens (before the first one)."""

    # -- the path of a message, and what it needs -------------------------

    async def deliver(self, delivery: Delivery) -> Outcome:
        """Take one message through the pipeline (the inbox's, catch-up's entry)."""
        if self.pipeline is None:
            raise BusNotStartedError(f"{self.service.name} is not started")
        return await self.pipeline.deliver(delivery)

    def build_pipeline(
        self, dead_letters: DeadLetterSink, *, dedup: bool = True, announce: bool = True
    ) -> Pipeline:
        """The pipeline, with the service's dedup records in Redis (``dedup``); after
        :meth:`build_broker`, whose outbox announces dead letters (``announce``). Each
        stored letter is also given to the service's compensations (``@service.compensate``)."""
        deduplicator = None
        if dedup:
            stores = self._require_stores()
            deduplicator = Deduplicator(
                stores.redis, self.settings.scoped(self.service.name),
                ttl=self.settings.dedup_ttl, lease=self.settings.claim_lease,
            )  # fmt: skip
        service = self.service
        compensations = None
        if service.compensations:
            handled = {h.topic for h in service.handlers}
            if unhandled := [c.topic for c in service.compensations if c.topic not in handled]:
                msg = f"{service.name} compensates events it does not handle: {unhandled}"
                raise ValueError(msg)
            compensations = Compensations(
                service.name, service.compensations, lambda: service.retry, self.producers
            )
        self.pipeline = Pipeline(
            service=service.name, owner=self.client_id, retry=lambda: service.retry,
            dead_letters=dead_letters, dedup=deduplicator,
            notices=Notices(self.outbox if announce else None, compensations),
            sources=self.producers,
        )  # fmt: skip
        return self.pipeline

    def build_broker(self) -> Broker:
        """The broker connection: persistent, with the inbox's subscriptions, for a
        consuming replica; a clean one that only publishes otherwise. Its will deletes
        the replica's presence."""
        will = presence_will(self.settings, self.service.name, self.client_id)
        broker = make_broker(
            self.settings, client_id=self.client_id, persistent=self.consume, will=will,
            identity=self.settings.scoped(self.service.name),
        )  # fmt: skip
        if self.consume:
            self.inbox.subscribe(broker)
        self.broker = broker
        self.outbox = Outbox(broker, self.service.name, self.settings,
                             journal=self.stores is not None)  # fmt: skip
        return broker

    def build_worker(self, *, burst: bool = False, max_jobs: int = 10) -> Worker:
        """An arq worker for the service's jobs, on its own queue."""
        stores, service = self._require_stores(), self.service
        pipeline = self.pipeline
        if pipeline is None:
            raise BusNotStartedError(f"{service.name} is not started")
        return build_worker(
            service.name, service.jobs, queue=self.settings.scoped(service.name),
            redis=stores.redis, dead_letters=lambda: pipeline.dead_letters,
            publish=service.publish, keep_result=self.settings.dedup_ttl,
            max_jobs=max_jobs, burst=burst,
        )  # fmt: skip

    def _require_outbox(self) -> Outbox:
        if self.outbox is None:
            raise BusNotStartedError(f"{self.service.name} is not started")
        return self.outbox

    def _require_stores(self) -> Stores:
        if self.stores is None:
            raise BusNotStartedError(f"{self.service.name} is not started")
        return self.stores

    # -- what it says about itself ----------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up right now."""
        return self.watcher is not None and self.watcher.connected

    async def health(self) -> Health:
        """The broker connection, and whether Redis and MongoDB answer."""
        stores = self.stores
        return await check_health(
            broker=self.connected,
            redis=stores.redis if stores else None,
            mongo=stores.mongo if stores else None,
        )

    async def presence(self) -> Presence:
        """This replica's presence as of now, with a fresh health check."""
        return describe(
            self.service, client_id=self.client_id, consuming=self.consume,
            working=self.worker is not None, started_at=self.started_at,
            health=await self.health(), ops_url=self.ops_url,
        )  # fmt: skip

    # -- starting and stopping --------------------------------------------

    async def start(self) -> None:
        """Config, stores, startup hooks, broker, catch-up, worker, started hooks, presence."""
        service, settings = self.service, self.settings
        self.started_at = datetime.now(UTC)
        self.stores = await Stores.open(settings, service.documents)
        broker = self.build_broker()
        self.build_pipeline(MongoDeadLetters())
        self.running = True
        # Connected, not yet consuming: the config is read on the replica's own connection
        # (under its own credential) before the startup hooks use the settings.
        client = await broker.connect()
        await self.config.load(client)
        await self.producers.load(client)
        for hook in service.startup_hooks:
            await hook()
        await broker.start()
        self._require_outbox().opened = True  # handlers consume from here on, and publish
        if self.consume:
            # What earlier versions subscribed this session to and this one does not.
            every_event = [settings.wire_topic(DOMAIN_EVENTS_FILTER)]
            await SessionFilters(self.stores.redis, self.client_id).prune(
                raw_client(broker), self.inbox.filters,
                earlier=every_event if service.consumes_every_event else (),
            )  # fmt: skip
        self.watcher = watcher = ConnectionWatcher(broker)
        watcher.start()
        await self.config.follow(raw_client(broker))
        await self.producers.follow(raw_client(broker))
        if self.consume and service.shared and service.consumes:
            self.catch_up = CatchUp(
                service=service.name, client_id=self.client_id, handlers=service.handlers,
                deliver=self.deliver, redis=self.stores.redis, connection=watcher,
                ttl=settings.session_expiry, sources=self.producers,
            )  # fmt: skip
            watcher.on_reconnect(self.catch_up.reconnected)
            await self.catch_up.start()
        if self.work:
            self.worker = JobWorker(self.build_worker(), service.name)
            self.worker.start()
        for hook in service.started_hooks:
            await hook()
        self.announcer = Announcer(
            self.presence, broker, interval=settings.presence_interval,
            topic=presence_topic(settings, service.name,
                                 instance_of(service.name, self.client_id, settings.namespace)),
            connected=lambda: watcher.connected,
        )  # fmt: skip
        watcher.on_reconnect(self.announcer.reconnected)
        await self.announcer.start()
        log.info(
            "%s started as %s on %s%s", service.name, self.client_id, settings.mqtt_url,
            f" with a worker for {len(service.jobs)} job(s)" if self.worker else "",
        )  # fmt: skip

    async def stop(self) -> None:
        """Stop consuming and working, keep the broker session, run the shutdown hooks,
        close the stores; in the reverse order of :meth:`start`."""
        service = self.service
        self.running = False
        if self.watcher is not None:  # no reconnection handled from here on
            await self.watcher.stop()
        if self.announcer is not None:
            await self.announcer.stop()  # clears the presence while still connected
            self.announcer = None
        await self.config.stop()
        await self.producers.stop()
        for hook in reversed(service.stopping_hooks):
            await hook()
        if self.catch_up is not None:
            await self.catch_up.stop()
            self.catch_up = None
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None
        self.watcher = None
        if self.broker is not None:
            await self.inbox.detach()
            await self.broker.stop()
            self.broker = self.outbox = None
        for hook in reversed(service.shutdown_hooks):
            await hook()
        if self.stores is not None:
            await self.stores.close()
            self.stores = None
        self.pipeline = None
        log.info("%s stopped", service.name)
