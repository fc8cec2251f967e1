"""Every event class, findable by CloudEvents type and by MQTT topic."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contracts.base import Event

_by_type: dict[str, type[Event]] = {}
_by_topic: dict[str, type[Event]] = {}


class UnknownEventError(LookupError):
    """No contract is registered under that type or topic."""


def register(cls: type[Event]) -> None:
    """Record an event class; two classes may not claim one type."""
    info = cls.contract
    existing = _by_type.get(info.type)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        msg = f"{info.type} is claimed by both {existing.__qualname__} and {cls.__qualname__}"
        raise ValueError(msg)
    _by_type[info.type] = cls
    _by_topic[info.topic] = cls


def by_type(event_type: str) -> type[Event]:
    """The class of a CloudEvents type such as ``documents.uploaded.v1``."""
    try:
        return _by_type[event_type]
    except KeyError:
        raise UnknownEventError(f"unknown event type {event_type!r}") from None


def by_topic(topic: str) -> type[Event]:
    """The class published on a topic such as ``documents/uploaded/v1``."""
    try:
        return _by_topic[topic]
    except KeyError:
        raise UnknownEventError(f"no event is published on topic {topic!r}") from None


def lookup(type_or_topic: str) -> type[Event]:
    """The class named by a CloudEvents type or a topic, whichever it is."""
    if "/" in type_or_topic:
        return by_topic(type_or_topic)
    return by_type(type_or_topic)


def all_events() -> list[type[Event]]:
    """Every registered event class, sorted by type."""
    return [_by_type[t] for t in sorted(_by_type)]
