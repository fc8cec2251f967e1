"""A large backlog on a persistent session survives an in-process reconnection.

A running service with thousands of QoS 1 events queued for it loses its
connection once; zmqtt reconnects with ``session_present=True`` and the broker
resends every unacknowledged event at once, before zmqtt has subscribed again.
With zmqtt's default persistent-session replay buffer (1000 messages) that ended
in "replay buffer limit of 1000 messages exceeded" on every reconnection, and the
service stopped handling events (see ``_Broker`` in bus/_internal/broker.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bus import BusSettings, Publisher, Service
from bus._internal.broker import connection_id as broker_connection_id
from bus._internal.broker import raw_client
from contracts import (
    DocumentContentDeleted,
    DocumentFailed,
    DocumentInspected,
    DocumentReady,
    DocumentUploaded,
    Event,
)
from tests.faults.conftest import PrivateStack
from tests.helpers import uploaded

pytestmark = pytest.mark.timeout(300)

BACKLOG = 3000
IN_FLIGHT = 90  # Mosquitto disconnects a publisher with more than 100 QoS 1 in flight
HANDLER_SECONDS = 0.01
WITHIN = 180.0  # seconds after the reconnection; 3000 x 10 ms is 30 s of handling


class Lines(logging.Handler):
    """Keeps the warnings and errors of the MQTT client and FastStream."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)


def slow_service(name: str, settings: BusSettings) -> tuple[Service, Counter[str], asyncio.Event]:
    """A service with several subscriptions, like the catalog, and a slow handler.

    The handler of the backlog's events comes last, so that its subscription is the
    last one zmqtt restores after reconnecting.
    """
    service = Service(name, settings=settings)
    seen: Counter[str] = Counter()
    all_seen = asyncio.Event()

    async def idle(event: Event) -> None:
        """Never called here: only there to have several subscriptions to restore."""

    for other in (DocumentInspected, DocumentFailed, DocumentContentDeleted, DocumentReady):
        service.on(other)(idle)

    @service.on(DocumentUploaded)
    async def on_uploaded(event: DocumentUploaded) -> None:
        await asyncio.sleep(HANDLER_SECONDS)
        seen[event.filename] += 1
        if len(seen) == BACKLOG:
            all_seen.set()

    return service, seen, all_seen


def connection_id(service: Service) -> int | None:
    """The client's count of successful connections; None while disconnected."""
    broker = service.replica.broker
    assert broker is not None
    return broker_connection_id(broker)


def drop_connection(service: Service) -> None:
    """Cut the service's TCP connection under zmqtt, as a lost connection would
    (Mosquitto logs "Client … closed its connection"); zmqtt reconnects in-process."""
    broker = service.replica.broker
    assert broker is not None
    protocol: Any = raw_client(broker)._protocol  # zmqtt's internals, to cut the socket
    assert protocol is not None
    protocol._transport._writer.transport.abort()


async def publish_backlog(settings: BusSettings) -> None:
    quick = settings.model_copy(update={"journal_first": False})
    async with Publisher(settings=quick) as publisher:
        for start in range(0, BACKLOG, IN_FLIGHT):
            chunk = range(start, min(start + IN_FLIGHT, BACKLOG))
            await asyncio.gather(*(publisher.publish(uploaded(n)) for n in chunk))


async def test_a_backlog_is_handled_after_an_in_process_reconnection(
    settings: BusSettings, unique: Callable[[str], str], tmp_path: Path
) -> None:
    stack = PrivateStack(tmp_path / "stack")
    lines = Lines()
    watched = [logging.getLogger(name) for name in ("zmqtt", "bus.mqtt", "bus.service")]
    for logger in watched:
        logger.addHandler(lines)
    await stack.up("mosquitto")
    try:
        settings = settings.model_copy(update={"mqtt_url": stack.url("mosquitto")})
        service, seen, all_seen = slow_service(unique("catalog"), settings)
        await service.start()
        try:
            await publish_backlog(settings)
            waiting = BACKLOG - len(seen)
            first = connection_id(service)
            drop_connection(service)
            started = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_seen.wait(), WITHIN)
            took = time.monotonic() - started
            last = connection_id(service)
        finally:
            await service.stop()
    finally:
        for logger in watched:
            logger.removeHandler(lines)
        await stack.down()

    overflows = lines.count("replay buffer limit")
    print(
        f"\n{waiting} of {BACKLOG} events not yet handled at the drop; {len(seen)} distinct "
        f"handled {took:.0f}s after it; connection id {first} -> {last}; "
        f"{overflows} replay-buffer protocol errors"
    )
    print(*lines.lines[:12], sep="\n")
    assert len(seen) == BACKLOG, (
        f"handled {len(seen)} of {BACKLOG} events within {WITHIN}s of the reconnection, "
        f"after {overflows} replay-buffer protocol errors; first log lines:\n"
        + "\n".join(lines.lines[:12])
    )
    assert overflows == 0
