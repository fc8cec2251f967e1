"""Answering a query in memory, through the same bytes as on the wire: for unit tests of
a service's answers (``@service.responds``) without a broker."""

from __future__ import annotations

from typing import TypeVar

from bus.requests import wire
from bus.requests.errors import NoResponderError
from bus.service import Service
from contracts.query import Query, Reply

R = TypeVar("R", bound=Reply)


async def answer(service: Service, query: Query[R]) -> R:
    """``service``'s reply to ``query``, encoded and decoded as the bus does.

    Raises:
        NoResponderError: ``service`` does not answer this query.
        RequestFailedError: its answer is an error reply.
    """
    query_type = type(query)
    found = next((a for a in service.queries.answers if a.query_type is query_type), None)
    if found is None:
        raise NoResponderError(query_type.query.type, query_type.query.topic)
    payload, content_type = await found.respond(wire.encode_query(query))
    reply = wire.decode_reply(query_type, payload, content_type)
    assert isinstance(reply, query_type.reply_type)
    return reply  # type: ignore[return-value]  # R is query_type's reply_type
