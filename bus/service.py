"""One service: its handlers, its broker connection and its lifecycle."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import zmqtt
from faststream.middlewares import AckPolicy
from faststream.mqtt.annotations import MQTTMessage

from bus._internal.broker import detach, make_broker, send
from bus.constants import is_system_topic
from bus.context import current_envelope, handling
from bus.envelope import Envelope
from bus.errors import BusNotStartedError, PoisonMessageError
from bus.handler import Handler, HandlerFunc
from bus.settings import BusSettings
from contracts import Event

if TYPE_CHECKING:
    from faststream.mqtt import MQTTBroker
    from faststream.mqtt.subscriber.usecase import MQTTBaseSubscriber

log = logging.getLogger("bus.service")

F = TypeVar("F", bound=HandlerFunc)
Hook = Callable[[], Awaitable[Any]]


class Service:
    """A named service on the bus.

    Every replica of a service joins the shared subscription
    ``$share/<name>/<topic>`` for each event it handles, so replicas split the
    stream while every other service still gets its own copy. Each replica
    keeps a persistent session under the client id ``<name>-<instance>``, so
    events published while it is down wait for it on the broker.

    Example::

        svc = Service("indexer")

        @svc.on(DocumentUploaded)
        async def index(event: DocumentUploaded) -> None:
            ...
    """

    def __init__(self, name: str, *, settings: BusSettings | None = None) -> None:
        if not name or "/" in name or "+" in name or "#" in name:
            msg = f"a service name must be a plain word, got {name!r}"
            raise ValueError(msg)
        self.name = name
        self.settings = settings or BusSettings()
        self.handlers: list[Handler] = []
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._broker: MQTTBroker | None = None
        self._subscribers: list[MQTTBaseSubscriber] = []

    # -- declaring -------------------------------------------------------

    def on(self, event_type: type[Event]) -> Callable[[F], F]:
        """Register an async handler for one event type.

        The handler is returned unchanged, so it stays callable without the bus.
        """

        def register(func: F) -> F:
            self._add(Handler.build(func, event_type))
            return func

        return register

    def on_every_event(self, func: F) -> F:
        """Register an async handler that receives the envelope of every domain event."""
        self._add(Handler.build(func, None))
        return func

    def on_startup(self, func: Hook) -> Hook:
        """Run ``func`` before the service subscribes (open stores here)."""
        self._startup.append(func)
        return func

    def on_shutdown(self, func: Hook) -> Hook:
        """Run ``func`` after the service has stopped consuming."""
        self._shutdown.append(func)
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
    def client_id(self) -> str:
        return f"{self.name}-{self.settings.instance}"

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of what this replica publishes."""
        return f"/{self.name}/{self.settings.instance}"

    # -- running ---------------------------------------------------------

    def build_broker(self) -> MQTTBroker:
        """A broker with one QoS 1 shared subscription per handled topic."""
        broker = make_broker(self.settings, client_id=self.client_id, persistent=True)
        self._subscribers = []
        for handler in self.handlers:
            self._subscribers.append(self._subscribe(broker, handler))
        return broker

    def _subscribe(self, broker: MQTTBroker, handler: Handler) -> MQTTBaseSubscriber:
        async def consume(message: MQTTMessage) -> None:
            await self.dispatch(handler, message.raw_message.topic, message.body)

        consume.__name__ = handler.func.__name__
        subscriber = broker.subscriber(
            handler.topic,
            qos=zmqtt.QoS.AT_LEAST_ONCE,
            shared=self.name,
            ack_policy=AckPolicy.ACK,  # the PUBACK goes out after the handler returns
            no_reply=True,
        )
        subscriber(consume)
        return subscriber

    async def dispatch(self, handler: Handler, topic: str, payload: bytes) -> None:
        """Decode one message and run its handler; never raises."""
        if is_system_topic(topic):
            return
        try:
            envelope = Envelope.from_bytes(payload)
            argument = handler.decode(envelope)
        except PoisonMessageError as exc:
            log.error("%s: dropped a message on %s: %s", self.name, topic, exc)
            return
        with handling(envelope):
            try:
                await handler(argument, envelope)
            except Exception:
                log.exception("%s: %s failed on event %s", self.name, handler.name, envelope.id)

    async def start(self) -> None:
        """Run the startup hooks, connect, and start consuming."""
        for hook in self._startup:
            await hook()
        self._broker = self.build_broker()
        await self._broker.start()
        log.info("%s started as %s on %s", self.name, self.client_id, self.settings.mqtt_url)

    async def stop(self) -> None:
        """Stop consuming, keep the broker session, run the shutdown hooks."""
        if self._broker is not None:
            await detach(self._subscribers)
            await self._broker.stop()
            self._broker = None
        for hook in reversed(self._shutdown):
            await hook()
        log.info("%s stopped", self.name)

    async def run(self, *, ready_file: Path | None = None) -> None:
        """Run until SIGINT or SIGTERM, then stop cleanly.

        ``ready_file`` is written once the service consumes, and removed on exit.
        """
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await self.start()
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
        same ``correlationid``, and ``causationid`` set to the handled event's id.
        """
        if self._broker is None:
            raise BusNotStartedError(f"{self.name} is not started")
        envelope = Envelope.wrap(event, source=self.source, cause=current_envelope(), id=id)
        await send(self._broker, envelope, event.contract.topic)
        return envelope


def _mark_ready(path: Path, client_id: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{client_id}\n")


def _clear_ready(path: Path) -> None:
    path.unlink(missing_ok=True)
