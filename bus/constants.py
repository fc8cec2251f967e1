"""Topic roots and names the bus reserves for itself, in one place."""

from typing import Final

SYSTEM_ROOT: Final = "chorus"
"""Every topic the bus itself uses lives under this root; no contract may use it."""

DOMAIN_EVENTS_FILTER: Final = "+/+/+"
"""Matches every ``<domain>/<event>/v<n>`` topic (and three-level system topics,
which subscribers drop: see :func:`is_system_topic`)."""

CLOUDEVENTS_CONTENT_TYPE: Final = "application/cloudevents+json"
"""The MQTT 5 content type of a structured-mode CloudEvent."""

SPECVERSION: Final = "1.0"


def is_system_topic(topic: str) -> bool:
    """True for the bus's own traffic, which domain subscribers never see."""
    return topic == SYSTEM_ROOT or topic.startswith(f"{SYSTEM_ROOT}/")


# -- topics under the reserved root ---------------------------------------

DEAD_LETTER_TOPIC: Final = f"{SYSTEM_ROOT}/deadletters/{{service}}"
REPLIES_TOPIC: Final = f"{SYSTEM_ROOT}/replies/{{client_id}}"
"""A requester's reply topic: one per connection (request/reply, :mod:`bus.requests`)."""
"""Where a service announces each dead letter (also stored in MongoDB)."""

REPLAY_TOPIC: Final = f"{SYSTEM_ROOT}/replay/{{service}}"
"""A service's private inbox: replayed dead letters, for its handlers only."""

PRESENCE_TOPIC: Final = f"{SYSTEM_ROOT}/presence/{{service}}/{{instance}}"
"""Each running replica's retained presence (JSON, refreshed by a heartbeat); emptied
when it stops, or by its MQTT will when it dies (see :mod:`bus.discovery`)."""

PRODUCERS_TOPIC: Final = f"{SYSTEM_ROOT}/producers"
"""Which services may produce each event type (retained JSON, written by ``bus
credentials apply`` from the declarations); consumers dead-letter an event whose
``source`` names no producer of its type (see :mod:`bus.security.producers`)."""

CONFIG_TOPIC: Final = f"{SYSTEM_ROOT}/config/{{service}}"
"""A service's retained settings overrides (a JSON object), read at start and followed
live by each replica; ``bus config`` writes it (see :mod:`bus.config`)."""


# -- Redis keys -------------------------------------------------------------

DONE_KEY: Final = "chorus:done:{service}:{event_id}"
"""Set once ``service`` has handled ``event_id`` successfully; expires after the dedup TTL."""

CLAIM_KEY: Final = "chorus:claim:{service}:{event_id}"
"""Held by the replica that is handling ``event_id`` right now; expires after the claim lease."""

JOB_QUEUE: Final = "chorus:jobs:{service}"
"""The arq queue (a sorted set) of one service's long-running jobs."""

JOB_ID: Final = "{service}:{job}:{key}"
"""A job's arq id: the same work under the same key is one job, however often it is asked for."""

JOB_DONE_KEY: Final = "chorus:jobdone:{job_id}"
"""A completed job's JSON result; a job that finds it does not run again."""

ARQ_RESULT_KEY: Final = "arq:result:{job_id}"
"""arq's kept result; while it exists, arq refuses to enqueue the same id again."""

ARQ_RETRY_KEY: Final = "arq:retry:{job_id}"
"""arq's count of tries so far."""

ALIVE_KEY: Final = "chorus:alive:{client_id}"
"""When a replica last saw its broker connection up (epoch seconds): where catch-up starts."""

SESSION_FILTERS_KEY: Final = "chorus:session-filters:{client_id}"
"""The topic filters a replica's persistent session subscribed to when it last started."""
