"""From CloudEvents types to MQTT topics and back."""

from __future__ import annotations

from contracts import UnknownEventError, by_type


def topic_for_type(event_type: str) -> str:
    """The topic of a CloudEvents type, known to the registry or not.

    ``documents.uploaded.v1`` -> ``documents/uploaded/v1``.
    """
    try:
        return by_type(event_type).contract.topic
    except UnknownEventError:
        parts = event_type.split(".")
        if len(parts) != 3 or not parts[2].startswith("v") or not all(parts):
            msg = f"{event_type!r} is not a '<domain>.<event>.v<version>' event type"
            raise ValueError(msg) from None
        return "/".join(parts)
