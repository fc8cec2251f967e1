"""The wire format of a query and its reply: plain MQTT 5, readable by any client.

A query travels at QoS 1 on ``[<namespace>/]queries/<domain>/<query>/v<n>``:

* payload: the query's fields as a JSON object (UTF-8), content type ``application/json``;
* ``Response Topic``: ``[<namespace>/]chorus/replies/<client id>``, the requester's own;
  a responder refuses to answer anywhere else;
* ``Correlation Data``: opaque bytes, echoed in the reply (the bus sends 32 hex digits);
* ``Message Expiry Interval``: the requester's timeout in seconds (rounded up), so a
  query nobody takes in time is dropped by the broker instead of answered late.

The reply travels at QoS 1 on that Response Topic, with the same Correlation Data:

* an answer: the reply's fields as a JSON object, content type ``application/json``;
* an error: content type ``application/vnd.chorus.error+json``, payload
  ``{"error": code, "detail": message}`` (the codes: :class:`.errors.RequestFailedError`).

Neither is a CloudEvent: a query is not a fact, and nothing journals it.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

from pydantic import ValidationError

from bus.requests.errors import RequestFailedError
from contracts.query import Query, Reply

REPLY_CONTENT_TYPE: Final = "application/json"
ERROR_CONTENT_TYPE: Final = "application/vnd.chorus.error+json"

FAILED: Final = "failed"
INVALID_QUERY: Final = "invalid_query"
INVALID_REPLY: Final = "invalid_reply"


def expiry(timeout: float) -> int:
    """The Message Expiry Interval of a query waited for ``timeout`` seconds."""
    return max(1, math.ceil(timeout))


def encode_query(query: Query[Any]) -> bytes:
    return query.model_dump_json().encode()


def decode_query(query_type: type[Query[Any]], payload: bytes) -> Query[Any]:
    """The typed query; :class:`RequestFailedError` (``invalid_query``) if it does not fit."""
    try:
        return query_type.model_validate_json(payload)
    except ValidationError as exc:
        detail = "; ".join(_describe(e) for e in exc.errors(include_url=False))
        raise RequestFailedError(query_type.query.type, INVALID_QUERY, detail) from None


def encode_reply(reply: Reply) -> tuple[bytes, str]:
    return reply.model_dump_json().encode(), REPLY_CONTENT_TYPE


def encode_error(code: str, detail: str) -> tuple[bytes, str]:
    return json.dumps({"error": code, "detail": detail}).encode(), ERROR_CONTENT_TYPE


def decode_reply(query_type: type[Query[Any]], payload: bytes, content_type: str | None) -> Reply:
    """The typed reply, or :class:`RequestFailedError` for an error reply or one that
    does not fit the query's reply contract."""
    name = query_type.query.type
    if content_type == ERROR_CONTENT_TYPE:
        try:
            body = json.loads(payload)
            code, detail = str(body["error"]), str(body["detail"])
        except (ValueError, TypeError, KeyError):
            code, detail = INVALID_REPLY, f"unreadable error reply: {payload[:200]!r}"
        raise RequestFailedError(name, code, detail)
    try:
        return query_type.reply_type.model_validate_json(payload)
    except ValidationError as exc:
        detail = "; ".join(_describe(e) for e in exc.errors(include_url=False))
        raise RequestFailedError(name, INVALID_REPLY, detail) from None


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error.get("loc", ())) or "the payload"
    return f"{where}: {error.get('msg', 'invalid')}"
