"""Putting the rules derived from the code into force on the broker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bus._internal.mqtt import connected_client, publish_retained
from bus.constants import PRODUCERS_TOPIC
from bus.declared import Declared
from bus.security.credentials import DYNSEC_ADMIN, OPS, CredentialStore, new_password
from bus.security.dynsec import DynSec
from bus.security.producers import encode_map, producer_map
from bus.security.rules import OPS_RULES, Rules, outside_rules, service_rules
from contracts import lookup, query_by_name

if TYPE_CHECKING:
    from bus.settings import BusSettings


class NoAdminError(RuntimeError):
    """No dynsec-admin credential: the broker was not started by infra/stack.sh here."""


def admin_store(settings: BusSettings) -> CredentialStore:
    store = CredentialStore(settings.credentials_dir)
    if store.identity(DYNSEC_ADMIN) is None:
        raise NoAdminError(
            f"no {DYNSEC_ADMIN} credential in {store.root} (infra/stack.sh creates it when it "
            "first starts the broker; a broker managed elsewhere has its own administration)"
        )
    return store


def rules_of(
    settings: BusSettings, services: Sequence[tuple[Declared, int]], store: CredentialStore
) -> list[Rules]:
    """The rules of ``services`` (each with its replica count) and of every outside team."""
    rules = [service_rules(s, settings, replicas=n) for s, n in services]
    return rules + [outside_of(entry, settings) for entry in store.outside()]


def outside_of(entry: dict[str, Any], settings: BusSettings) -> Rules:
    """An outside team's rules, from its credential file."""
    scoped = settings.model_copy(update={"namespace": entry.get("namespace", "")})
    return outside_rules(
        entry["name"], scoped,
        produces=[lookup(t) for t in entry.get("produces", [])],
        consumes=[lookup(t) for t in entry.get("consumes", [])],
        client_ids=entry["client_ids"],
        asks=[query_by_name(t) for t in entry.get("asks", [])],
        answers=[query_by_name(t) for t in entry.get("answers", [])],
    )  # fmt: skip


async def apply(settings: BusSettings, services: Sequence[tuple[Declared, int]]) -> list[Rules]:
    """Give each service (with its replica count) a credential if it has none, and put
    the rules of ``ops``, the services and the outside teams in force on the broker.

    Raises:
        NoAdminError: no dynsec-admin credential here.
        DynSecError: the broker refused a change.
    """
    store = admin_store(settings)
    rules = rules_of(settings, services, store)
    async with connected_client(settings, credential=store.identity(DYNSEC_ADMIN)) as client:
        dynsec = DynSec(client)
        await dynsec.apply(OPS_RULES)
        for (service, _), service_rule in zip(services, rules, strict=False):
            password = store.ensure_service(settings.scoped(service.name))
            await dynsec.apply(service_rule, password)
        for entry, outside_rule in zip(store.outside(), rules[len(services) :], strict=True):
            await dynsec.apply(outside_rule, entry["password"])
    producers = producer_map([s for s, _ in services], store.outside())
    async with connected_client(settings, credential=store.identity(OPS)) as client:
        await publish_retained(client, settings.wire_topic(PRODUCERS_TOPIC), encode_map(producers))
    return rules


async def add_outside(
    settings: BusSettings,
    name: str,
    *,
    produces: Sequence[str],
    consumes: Sequence[str],
    replicas: int,
    asks: Sequence[str] = (),
    answers: Sequence[str] = (),
) -> dict[str, Any]:
    """A credential for an outside team, its rules derived like a service's (``asks``
    and ``answers``: query types, see :mod:`bus.requests`); returns its file's content
    (with the password)."""
    store = admin_store(settings)
    client_ids = [settings.client_id(name, str(n)) for n in range(replicas)]
    entry: dict[str, Any] = {
        "name": name,
        "namespace": settings.namespace,
        "password": new_password(),
        "produces": list(produces),
        "consumes": list(consumes),
        "asks": list(asks),
        "answers": list(answers),
        "client_ids": client_ids,
    }
    rules = outside_of(entry, settings)  # unknown types raise before anything is written
    async with connected_client(settings, credential=store.identity(DYNSEC_ADMIN)) as client:
        await DynSec(client).apply(rules, entry["password"])
    store.save_outside(entry)
    return entry


async def rotate(settings: BusSettings, name: str, client_ids: Sequence[str]) -> str:
    """A new password for a service (``client_ids``: its replicas') or an outside team.

    Running replicas keep their connection; the next one logs in with the new password.
    """
    store = admin_store(settings)
    entry = store.outside_entry(name)
    if entry is not None:
        entry["password"] = password = new_password()
        usernames: Sequence[str] = entry["client_ids"]
    elif store.service_password(settings.scoped(name)) is not None:
        password, usernames = store.rotate_service(settings.scoped(name)), client_ids
    else:
        raise LookupError(f"no credential named {name}")
    async with connected_client(settings, credential=store.identity(DYNSEC_ADMIN)) as client:
        dynsec = DynSec(client)
        known = set(await dynsec.usernames())
        await dynsec.set_password([u for u in usernames if u in known], password)
    if entry is not None:
        store.save_outside(entry)
    return password


async def remove(settings: BusSettings, name: str, client_ids: Sequence[str]) -> None:
    """Delete a service's or an outside team's credential, on the broker and on disk."""
    store = admin_store(settings)
    entry = store.outside_entry(name)
    role = f"outside:{settings.scoped(name)}" if entry else f"service:{settings.scoped(name)}"
    usernames = entry["client_ids"] if entry else client_ids
    async with connected_client(settings, credential=store.identity(DYNSEC_ADMIN)) as client:
        await DynSec(client).remove(role, usernames)
    if entry is not None:
        store.remove_outside(name)
    elif not store.remove_service(settings.scoped(name)):
        raise LookupError(f"no credential named {name}")
