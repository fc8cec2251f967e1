"""The CloudEvents envelope every message travels in, as a JSON Schema.

Chorus sends CloudEvents in *structured* mode: the whole MQTT payload is one JSON
document (content type ``application/cloudevents+json``) whose attributes sit beside
the event's ``data``. So the envelope is described as the message *payload*, not as
headers: MQTT 5 user properties carry nothing, and an AsyncAPI ``headers`` schema
would describe something that is not on the wire. Each message's payload is this
envelope narrowed to its own ``type`` and ``data`` (see :mod:`bus.tools.asyncapi.document`).
"""

from __future__ import annotations

from typing import Any, Final

from bus.constants import CLOUDEVENTS_CONTENT_TYPE, SPECVERSION

ENVELOPE_SCHEMA_NAME: Final = "CloudEventsEnvelope"
"""Its key in ``components.schemas``."""

CONTENT_TYPE: Final = CLOUDEVENTS_CONTENT_TYPE


def envelope_schema() -> dict[str, Any]:
    """A CloudEvents 1.0 event with Chorus's extensions, as :class:`bus.Envelope` sends it."""
    text = {"type": "string", "minLength": 1}
    return {
        "title": "CloudEvents envelope",
        "description": (
            "A CloudEvents 1.0 event in structured JSON mode, with the Chorus extension "
            "attributes correlationid (the first event of the causal chain) and causationid "
            "(the event whose handler published this one), and the distributed-tracing "
            "extension (traceparent, tracestate). Other extension attributes are allowed, "
            "as CloudEvents permits."
        ),
        "type": "object",
        "required": ["specversion", "id", "source", "type"],
        "properties": {
            "specversion": {"const": SPECVERSION},
            "id": {**text, "description": "Unique per source; the consumers' dedup key."},
            "source": {
                **text,
                "format": "uri-reference",
                "description": "/<service>/<instance> of the replica that published it.",
                "examples": ["/gateway/1"],
            },
            "type": {**text, "description": "<domain>.<event>.v<version>"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "subject": text,
            "correlationid": {
                **text,
                "description": "The id of the first event of this causal chain.",
            },
            "causationid": {
                **text,
                "description": "The id of the event whose handler published this one; "
                "absent on the first event of a chain.",
            },
            "traceparent": {
                "type": "string",
                "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
                "description": "W3C Trace Context of the span that published the event "
                "(CloudEvents distributed-tracing extension); consumers continue its trace.",
                "examples": ["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],
            },
            "tracestate": {"type": "string", "description": "W3C tracestate, vendor data."},
            "data": {"description": "The event itself: the message's contract."},
        },
        "additionalProperties": True,
    }
