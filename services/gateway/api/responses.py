"""What the routes declare in OpenAPI besides their success: the errors they send (all of
the one :class:`~services.gateway.errors.Error` shape) and the headers that come with them.

Each error names its JSON content and the ``Error`` schema itself instead of FastAPI's
``model=``: FastAPI would document the error in the route's own media type, and the SSE
route's is ``text/event-stream``. :func:`services.gateway.api.main.build_app` adds the
schema to the document's components.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {"$ref": "#/components/schemas/Error"}

Responses = dict[int | str, dict[str, Any]]


def header(description: str, *, required: bool = True, integer: bool = False) -> dict[str, Any]:
    """An OpenAPI header object."""
    schema = {"type": "integer"} if integer else {"type": "string"}
    return {"description": description, "required": required, "schema": schema}


def error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON error response, with these OpenAPI header objects."""
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    }
    if headers:
        response["headers"] = headers
    return response


INVALID: Responses = {
    422: error("A parameter or the body does not match this document (code 'invalid_request')")
}
"""Any route with parameters or a body: FastAPI's validation, in the API's shape."""

UNAUTHENTICATED: Responses = {
    401: error(
        "No bearer token ('unauthenticated'), or one unknown or expired ('invalid_token')",
        {"WWW-Authenticate": header("Bearer")},
    )
}
"""Every route behind a bearer token."""

NOT_FOUND: Responses = {404: error("No such document of yours ('not_found')")}

SSE_STREAM: dict[str, Any] = {
    "description": (
        "Server-Sent Events, each step as it happens; a comment line every 15 s keeps the"
        " stream open."
    ),
    "content": {
        # OpenAPI 3.2's itemSchema: each event's schema, as FastAPI's own SSE routes
        # declare it; the stream as a whole is text.
        "text/event-stream": {
            "itemSchema": {
                "title": "DocumentEvent",
                "type": "object",
                "properties": {
                    "event": {"type": "string", "enum": ["status", "progress", "end"]},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "description": "For 'status' and 'progress', a TimelineItem; for the"
                        " last event, 'end', {\"status\": <the final status>}",
                    },
                },
                "required": ["event", "data"],
            }
        }
    },
}
"""The stream of ``GET /documents/{id}/events``."""
