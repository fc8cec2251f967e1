"""``bus request``: ask a query and print its reply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from bus.requests import RequestError, request
from bus.tools.cli._common import console, fail, run
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
    query = _validate(query_class, _load(data))
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


def _load(data: str) -> Any:
    text = data
    if data.startswith("@"):
        path = Path(data[1:])
        try:
            text = path.read_text()
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror or exc}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"DATA is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")


def _validate(query_class: type[Query[Any]], data: Any) -> Query[Any]:
    try:
        return query_class.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}" for e in exc.errors()
        )
        fail(f"data does not match {query_class.query.type}: {problems}")
