"""Broker permissions derived from the code's own declarations. No I/O.

A service may publish the events it declares (``Service(produces=...)``, plus its job
events), its own presence, its own dead-letter notices and its config probes; it may
subscribe to what it handles through its own shared group (plain subscriptions where it
takes every copy, as the journal does), to its own replay topic, its own config and the
producer map, read only. Nothing else under ``chorus/`` reaches it, and ``$SYS`` is not
for it. ``ops`` reads and writes everything; only it writes config and replay topics.

Queries (:mod:`bus.requests`): a service may send the queries it declares in ``asks=``
and read replies on its own replicas' reply topics (``chorus/replies/<client id>``) only;
a service that answers a query (``@service.responds``) subscribes to it through its own
shared group and may publish to any reply topic (it answers whoever asked; a reply is
matched by the Correlation Data, which only the query's readers see).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from bus.constants import (
    CONFIG_TOPIC,
    DEAD_LETTER_TOPIC,
    DOMAIN_EVENTS_FILTER,
    PRESENCE_TOPIC,
    PRODUCERS_TOPIC,
    REPLAY_TOPIC,
    REPLIES_TOPIC,
    SYSTEM_ROOT,
)

if TYPE_CHECKING:
    from bus.declared import Declared
    from bus.settings import BusSettings
    from contracts import Event, Query

AclType = Literal["publishClientSend", "publishClientReceive", "subscribePattern"]

ALLOW_PRIORITY = 10
"""Allow rules are checked before the deny rule of the bus's own topics."""


@dataclass(frozen=True, slots=True)
class Acl:
    """One access rule, as Mosquitto's dynamic security plugin takes it."""

    acltype: AclType
    topic: str
    allow: bool = True
    priority: int = ALLOW_PRIORITY

    def to_json(self) -> dict[str, object]:
        return {"acltype": self.acltype, "topic": self.topic, "allow": self.allow,
                "priority": self.priority}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rules:
    """What one identity may do on the broker: a role and the client ids it logs in with.

    Attributes:
        role: The role's name (``service:<scoped name>``, ``outside:<name>``, ``ops``).
        acls: Its rules.
        client_ids: The client ids allowed to log in with it; empty: any (``ops``).
    """

    role: str
    acls: tuple[Acl, ...]
    client_ids: tuple[str, ...] = ()

    @property
    def publishes(self) -> list[str]:
        return [a.topic for a in self.acls if a.acltype == "publishClientSend" and a.allow]

    @property
    def subscribes(self) -> list[str]:
        return [a.topic for a in self.acls if a.acltype == "subscribePattern" and a.allow]


def replica_client_ids(settings: BusSettings, service: str, replicas: int) -> tuple[str, ...]:
    """The client ids of a service's replicas ``0..replicas-1`` (at least ``0`` and ``1``,
    ``bus run``'s default instance), each also as a worker-only process (``-worker``)."""
    ids: list[str] = []
    for instance in range(max(replicas, 2)):
        client_id = settings.client_id(service, str(instance))
        ids += [client_id, f"{client_id}-worker"]
    return tuple(ids)


def service_rules(service: Declared, settings: BusSettings, *, replicas: int = 1) -> Rules:
    """The rules of ``service`` in ``settings.namespace``, from its declarations."""
    wire, name = settings.wire_topic, service.name
    group = f"$share/{name}/" if service.shared else ""
    handled: list[str] = [e.contract.topic for e in service.consumes]
    if service.consumes_every_event:
        handled.append(DOMAIN_EVENTS_FILTER)
    config = wire(CONFIG_TOPIC.format(service=name))
    replay = wire(REPLAY_TOPIC.format(service=name))
    producers = wire(PRODUCERS_TOPIC)
    client_ids = replica_client_ids(settings, name, replicas)
    asks, answers = _queries(service)
    replies = _reply_topics(settings, client_ids if asks else ())
    acls = [
        *(Acl("publishClientSend", wire(e.contract.topic)) for e in service.produces),
        Acl("publishClientSend", wire(PRESENCE_TOPIC.format(service=name, instance="+"))),
        Acl("publishClientSend", wire(DEAD_LETTER_TOPIC.format(service=name))),
        Acl("publishClientSend", f"{config}/+"),  # the probe that ends a retained read
        Acl("publishClientSend", f"{producers}/+"),
        *(Acl("subscribePattern", group + wire(topic)) for topic in handled),
        Acl("subscribePattern", group + replay),
        Acl("subscribePattern", config),
        Acl("subscribePattern", f"{config}/+"),
        Acl("subscribePattern", producers),
        Acl("subscribePattern", f"{producers}/+"),
        *_query_acls(settings, name, asks=asks, answers=answers, replies=replies),
        *_bus_topics_kept_out(
            settings,
            allowed=(replay, config, f"{config}/+", producers, f"{producers}/+", *replies),
        ),
    ]
    return Rules(f"service:{settings.scoped(name)}", tuple(dict.fromkeys(acls)), client_ids)


def _queries(service: Declared) -> tuple[list[type[Query[Any]]], list[type[Query[Any]]]]:
    return list(service.asks), list(service.answers)


def _reply_topics(settings: BusSettings, client_ids: Sequence[str]) -> tuple[str, ...]:
    return tuple(settings.wire_topic(REPLIES_TOPIC.format(client_id=c)) for c in client_ids)


def _query_acls(
    settings: BusSettings,
    group: str,
    *,
    asks: Sequence[type[Query[Any]]],
    answers: Sequence[type[Query[Any]]],
    replies: Sequence[str],
) -> list[Acl]:
    """Send the queries asked, read only these reply topics; answer the queries
    answered through the shared group ``group``, and publish replies."""
    wire = settings.wire_topic
    acls = [Acl("publishClientSend", wire(q.query.topic)) for q in asks]
    acls += [Acl("subscribePattern", topic) for topic in replies]
    acls += [Acl("subscribePattern", f"$share/{group}/{wire(q.query.topic)}") for q in answers]
    if answers:
        acls.append(Acl("publishClientSend", wire(REPLIES_TOPIC.format(client_id="+"))))
    return acls


def outside_rules(
    name: str,
    settings: BusSettings,
    *,
    produces: Iterable[type[Event]],
    consumes: Iterable[type[Event]],
    client_ids: Sequence[str],
    asks: Sequence[type[Query[Any]]] = (),
    answers: Sequence[type[Query[Any]]] = (),
) -> Rules:
    """An outside team's rules (``bus credentials add``): publish what it produces,
    subscribe to what it consumes through its own shared group ``$share/<name>/…``;
    send the queries it asks (replies on ``chorus/replies/<its client id>``) and answer
    those it answers, as a service does."""
    wire = settings.wire_topic
    replies = _reply_topics(settings, client_ids if asks else ())
    acls = [
        *(Acl("publishClientSend", wire(e.contract.topic)) for e in produces),
        *(Acl("subscribePattern", f"$share/{name}/{wire(e.contract.topic)}") for e in consumes),
        *_query_acls(settings, name, asks=asks, answers=answers, replies=replies),
        *_bus_topics_kept_out(settings, allowed=replies),
    ]
    return Rules(f"outside:{settings.scoped(name)}", tuple(dict.fromkeys(acls)), tuple(client_ids))


OPS_RULES = Rules(
    "ops",
    (
        Acl("publishClientSend", "#"),
        Acl("subscribePattern", "#"),
        Acl("subscribePattern", "$share/#"),
        Acl("subscribePattern", "$SYS/#"),
        Acl("publishClientReceive", "$SYS/#"),
    ),
)
"""``ops`` (people, the ``bus`` command line, tests): everything but the broker's own
user administration."""


def _bus_topics_kept_out(settings: BusSettings, allowed: Iterable[str] = ()) -> list[Acl]:
    """Nothing under ``chorus/`` reaches the identity, but for ``allowed`` (a handler of
    every domain event also matches three-level bus topics, config among them)."""
    root = settings.wire_topic(f"{SYSTEM_ROOT}/#")
    return [
        *(Acl("publishClientReceive", topic) for topic in allowed),
        Acl("publishClientReceive", root, allow=False, priority=0),
    ]
