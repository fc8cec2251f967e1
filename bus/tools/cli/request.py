"""``bus request``: ask a query and print its reply."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bus.requests import RequestError, request
from bus.tools.cli._common import console, fail, parse_data, run
from contracts import Query, Reply, UnknownQueryError, all_queries, query_by_name


def request_command(
    type_or_topic: Annotated[
        str,
        typer.Argument(
            help="Query type (accounts.quota_left.v1) or topic (queries/accounts/quota_left/v1)"
        ),
    ],
    data: Annotated[str, typer.Argument(help="The query's fields as JSON, or @FILE to read them")],
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for the reply")] = 2.0,
) -> None:
    """Ask one query (checked against its contract first) and print the reply as JSON.

    Exits 1 with one line when nobody answers, the reply does not come in time, or the
    responder answers with an error.
    """
    query_class = _find(type_or_topic)
    query = parse_data(data, query_class, query_class.query.type)
    reply = run(_ask(query, timeout))
    if isinstance(reply, RequestError):
        fail(str(reply))
    console.print_json(reply.model_dump_json())


async def _ask(query: Query[Any], wait: float) -> Reply | RequestError:
    # Inside the loop: run() would take a RequestTimeoutError for a server out of reach.
    try:
        reply: Reply = await request(query, timeout=wait)
    except RequestError as exc:
        return exc
    return reply


def _find(type_or_topic: str) -> type[Query[Any]]:
    try:
        return query_by_name(type_or_topic)
    except UnknownQueryError as exc:
        known = ", ".join(q.query.type for q in all_queries()) or "none"
        fail(f"{exc.args[0]}; known queries: {known}")
