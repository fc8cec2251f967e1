"""``bus publish``: validate data against its contract, wrap it, publish it."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bus.envelope import Envelope
from bus.publisher import Publisher
from bus.tools.cli._common import CONNECT_TIMEOUT, console, fail, parse_data, run, traced
from contracts import Event, UnknownEventError, all_events, lookup


def publish_command(  # noqa: PLR0917 - typer turns each parameter into an option
    type_or_topic: Annotated[
        str,
        typer.Argument(help="Event type (documents.uploaded.v1) or topic (documents/uploaded/v1)"),
    ],
    data: Annotated[str, typer.Argument(help="The event's data as JSON, or @FILE to read it")],
    event_id: Annotated[
        str | None, typer.Option("--id", help="Use this event id (a repeat is a duplicate)")
    ] = None,
    source: Annotated[str | None, typer.Option(help="CloudEvents source")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the envelope as JSON")] = False,
    binary: Annotated[
        bool,
        typer.Option(
            "--binary",
            help="CloudEvents binary mode: attributes as MQTT 5 user properties, data as payload",
        ),
    ] = False,
) -> None:
    """Publish one event at QoS 1, checked against its contract first."""
    event_class = _find(type_or_topic)
    event = parse_data(data, event_class, event_class.contract.type)
    with traced("bus-publish"):
        envelope = run(_publish(event, event_id, source, binary=binary))
    if as_json:
        print(envelope.to_bytes().decode())
    else:
        console.print(
            f"published [bold]{envelope.type}[/] id={envelope.id} on {event_class.contract.topic}",
            highlight=False,
        )


def _find(type_or_topic: str) -> type[Event]:
    try:
        return lookup(type_or_topic)
    except UnknownEventError as exc:
        known = ", ".join(e.contract.type for e in all_events())
        fail(f"{exc.args[0]}; known types: {known}")


async def _publish(
    event: Event, event_id: str | None, source: str | None, *, binary: bool
) -> Envelope:
    async with asyncio.timeout(CONNECT_TIMEOUT), Publisher(source=source) as publisher:
        return await publisher.publish(event, id=event_id, binary=binary)
