"""``bus tail``: watch events as they arrive."""

from __future__ import annotations

import contextlib
import json
from typing import Annotated

import typer
from rich.padding import Padding
from rich.pretty import Pretty

from bus._internal.broker import wire_message
from bus._internal.mqtt import QOS1, connected_client
from bus.constants import DOMAIN_EVENTS_FILTER, is_system_topic
from bus.envelope import Envelope, EnvelopeError, WireMessage
from bus.settings import BusSettings
from bus.tools.cli._common import CONNECT_TIMEOUT, console, err_console, fail, run
from contracts import UnknownEventError, lookup


def tail_command(
    filter_: Annotated[
        str | None,
        typer.Argument(
            metavar="[FILTER]",
            help="An event type, a topic or an MQTT topic filter; default: every domain event",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document per line")] = False,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many events")] = None,
) -> None:
    """Print each event as it arrives (Ctrl-C to stop)."""
    topic = _topic_filter(filter_)
    with contextlib.suppress(KeyboardInterrupt):
        run(_tail(topic, as_json=as_json, count=count))


def _topic_filter(filter_: str | None) -> str:
    if filter_ is None:
        return DOMAIN_EVENTS_FILTER
    if "/" in filter_ or "+" in filter_ or "#" in filter_:
        return filter_
    try:
        return lookup(filter_).contract.topic
    except UnknownEventError as exc:
        fail(f"{exc.args[0]}: give a known event type or a topic filter")


async def _tail(topic: str, *, as_json: bool, count: int | None) -> None:
    settings = BusSettings()
    seen = 0
    async with connected_client(settings, within=CONNECT_TIMEOUT) as client:
        wire = settings.wire_topic(topic)
        async with client.subscribe(wire, qos=QOS1) as subscription:
            err_console.print(f"[dim]watching {wire} on {settings.mqtt_url} (Ctrl-C to stop)[/]")
            async for message in subscription:
                local = settings.local_topic(message.topic)
                if is_system_topic(local) and topic == DOMAIN_EVENTS_FILTER:
                    continue
                _show(local, wire_message(message), as_json=as_json)
                seen += 1
                if count is not None and seen >= count:
                    return


def _show(topic: str, message: WireMessage, *, as_json: bool) -> None:
    """One event, in whichever CloudEvents content mode it came."""
    payload = message.payload
    try:
        envelope = Envelope.from_message(message)
    except EnvelopeError as exc:
        if as_json:
            print(
                json.dumps(
                    {"topic": topic, "error": str(exc), "payload": payload.decode(errors="replace")}
                )
            )
        else:
            console.print(f"[red]{topic}: {exc}[/]", highlight=False)
        return
    if as_json:
        print(envelope.to_bytes().decode(), flush=True)
        return
    console.print(
        f"[bold cyan]{envelope.type}[/] [dim]{envelope.time:%H:%M:%S.%f} on {topic}[/]\n"
        f"  id={envelope.id} source={envelope.source}\n"
        f"  correlation={envelope.correlationid} causation={envelope.causationid or '-'}",
        highlight=False,
    )
    console.print(Padding(Pretty(envelope.data), (0, 0, 1, 2)))
