"""Asking one service to handle a dead letter again."""

from __future__ import annotations

from pydantic import BaseModel


class ReplayRequest(BaseModel):
    """Sent on the failing service's private replay topic, never on the event's own topic,
    so that no other subscriber sees the event a second time."""

    deadletter_id: str
    topic: str
    payload: str
