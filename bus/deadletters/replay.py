"""Asking one service to handle a dead letter again."""

from __future__ import annotations

from pydantic import BaseModel

from bus.deadletters.models import DeadLetter


class ReplayRequest(BaseModel):
    """Sent on the failing service's private replay topic, never on the event's own topic,
    so that no other subscriber sees the event a second time.

    Attributes:
        deadletter_id: The letter to replay.
        topic: The topic the message came on.
        payload: The message as it came (in binary mode: the event's data).
        content_type: The MQTT 5 content type it came with.
        properties: Its MQTT 5 user properties (in binary mode: the event's attributes);
            None: not sent (a request from a ``bus dlq`` older than binary mode), the
            service reads them from the stored letter.
    """

    deadletter_id: str
    topic: str
    payload: str
    content_type: str | None = None
    properties: list[tuple[str, str]] | None = None

    @classmethod
    def of(cls, letter: DeadLetter) -> ReplayRequest:
        """The request that replays ``letter`` as its message came."""
        return cls(
            deadletter_id=letter.id, topic=letter.topic, payload=letter.payload or "",
            content_type=letter.content_type, properties=list(letter.mqtt_properties()),
        )  # fmt: skip
