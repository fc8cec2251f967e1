"""The broker's law, tried as an intruder would: every service credential against every
contract topic, anonymous and wrong logins, another service's client id and shared group,
config and replay writes, an outside team outside its rules.

The rules come from the reference services' own declarations (``bus.security``), in the
test's namespace, with credentials in a folder of the test's own.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bus import BusSettings, Service
from bus._internal.mqtt import MQTT_ERRORS, QOS1, Client, connected_client
from bus.constants import CONFIG_TOPIC, PRESENCE_TOPIC, REPLAY_TOPIC
from bus.security import DYNSEC_ADMIN, OPS, Credential, CredentialStore
from bus.security.apply import add_outside, apply
from bus.security.dynsec import DynSec
from bus.tools.graph.sources import load_services, reference_names
from contracts import DocumentReady, DocumentUploaded, all_events

pytestmark = pytest.mark.timeout(180)


@dataclass
class Tally:
    """Each attempt: allowed or not by the rules, and what the broker did."""

    attempts: int = 0
    forbidden: int = 0
    refused: int = 0
    wrongly_accepted: list[str] = field(default_factory=list)
    wrongly_refused: list[str] = field(default_factory=list)

    async def expect(self, allowed: bool, what: str, action: Awaitable[object]) -> None:
        self.attempts += 1
        self.forbidden += not allowed
        try:
            await action
        except MQTT_ERRORS:
            self.refused += 1
            if allowed:
                self.wrongly_refused.append(what)
            return
        if not allowed:
            self.wrongly_accepted.append(what)


@pytest.fixture
async def secured(settings: BusSettings, tmp_path: Path) -> AsyncIterator[BusSettings]:
    """``settings`` whose credentials folder holds ops, dynsec-admin and the reference
    services' credentials in the test's namespace, in force on the broker; removed after."""
    home = CredentialStore(settings.credentials_dir)
    folder = tmp_path / "credentials"
    folder.mkdir(mode=0o700)
    for name in (OPS, DYNSEC_ADMIN):
        shutil.copy(settings.credentials_dir / f"{name}.json", folder / f"{name}.json")
    secured = settings.model_copy(update={"credentials_dir": folder})
    services = [(s, 2 if s.name == "inspector" else 1) for s in reference_services()]
    rules = await apply(secured, services)
    yield secured
    store = CredentialStore(folder)
    async with connected_client(secured, credential=home.identity(DYNSEC_ADMIN)) as client:
        dynsec = DynSec(client)
        for rule in rules:
            await dynsec.remove(rule.role, rule.client_ids)
        for entry in store.outside():
            await dynsec.remove(f"outside:{secured.scoped(entry['name'])}", entry["client_ids"])


def reference_services() -> list[Service]:
    return load_services(reference_names(Path("infra/services.txt")))


async def publish(client: Client, topic: str, *, retain: bool = False) -> None:
    await client.publish(topic, b"{}", qos=QOS1, retain=retain)


async def subscribe(client: Client, topic: str) -> None:
    subscription = client.subscribe(topic, qos=QOS1)
    await subscription.start()
    await subscription.stop()


def login(settings: BusSettings, service: str, instance: str = "0") -> Credential:
    store = CredentialStore(settings.credentials_dir)
    password = store.service_password(settings.scoped(service))
    assert password is not None
    return Credential(settings.client_id(service, instance), password)


async def connect(settings: BusSettings, credential: Credential | None, client_id: str) -> None:
    async with connected_client(settings, credential=credential, client_id=client_id, within=5):
        pass


async def test_every_unauthorized_action_is_refused(
    secured: BusSettings, report: list[str]
) -> None:
    wire = secured.wire_topic
    tally = Tally()
    services = reference_services()
    names = [s.name for s in services]
    events = all_events()

    for service in services:
        me = login(secured, service.name)
        async with connected_client(secured, credential=me, client_id=me.username) as client:
            handled = {e.contract.topic for e in service.consumes}
            produced = {e.contract.topic for e in service.produces}
            for event in events:
                topic = event.contract.topic
                every = service.consumes_every_event
                await tally.expect(
                    topic in produced,
                    f"{service.name} publishes {topic}",
                    publish(client, wire(topic)),
                )
                shared = f"$share/{service.name}/{wire(topic)}"
                await tally.expect(
                    topic in handled and service.shared,
                    f"{service.name} joins its group on {topic}",
                    subscribe(client, shared),
                )
                await tally.expect(
                    every or (topic in handled and not service.shared),
                    f"{service.name} subscribes plainly to {topic}",
                    subscribe(client, wire(topic)),
                )
            for other in names:
                if other == service.name:
                    continue
                stolen = f"$share/{other}/{wire(DocumentReady.contract.topic)}"
                await tally.expect(
                    False,
                    f"{service.name} joins {other}'s group",
                    subscribe(client, stolen),
                )
                presence = wire(PRESENCE_TOPIC.format(service=other, instance="0"))
                await tally.expect(
                    False,
                    f"{service.name} fakes {other}'s presence",
                    publish(client, presence, retain=True),
                )
            for target in (service.name, "notifier"):
                config = wire(CONFIG_TOPIC.format(service=target))
                await tally.expect(
                    False,
                    f"{service.name} writes {target}'s config",
                    publish(client, config, retain=True),
                )
                replay = wire(REPLAY_TOPIC.format(service=target))
                await tally.expect(
                    False,
                    f"{service.name} writes {target}'s replay topic",
                    publish(client, replay),
                )
            await tally.expect(False, f"{service.name} reads $SYS", subscribe(client, "$SYS/#"))
            await tally.expect(False, f"{service.name} reads every topic", subscribe(client, "#"))
            own_config = wire(CONFIG_TOPIC.format(service=service.name))
            await tally.expect(
                True,
                f"{service.name} reads its own config",
                subscribe(client, own_config),
            )

    nobody = secured.model_copy(update={"credentials_dir": secured.credentials_dir / "none"})
    await tally.expect(False, "connect anonymously", connect(nobody, None, ""))
    catalog = login(secured, "catalog")
    notifier_0 = secured.client_id("notifier", "0")
    catalog_9 = secured.client_id("catalog", "9")
    for what, credential, client_id in [
        ("a wrong password", Credential(catalog.username, "not-the-password"), catalog.username),
        ("catalog's password as notifier-0", Credential(notifier_0, catalog.password), notifier_0),
        ("catalog's user name under notifier's client id", catalog, notifier_0),
        ("a replica that does not exist", Credential(catalog_9, catalog.password), catalog_9),
    ]:
        await tally.expect(False, f"connect with {what}", connect(secured, credential, client_id))
    await tally.expect(True, "connect as catalog-0", connect(secured, catalog, catalog.username))

    team = await add_outside(
        secured,
        "partner",
        produces=[DocumentUploaded.contract.type],
        consumes=[DocumentReady.contract.type],
        replicas=1,
    )
    partner = Credential(team["client_ids"][0], team["password"])
    async with connected_client(secured, credential=partner, client_id=partner.username) as client:
        for event in events:
            topic = event.contract.topic
            await tally.expect(
                event is DocumentUploaded,
                f"partner publishes {topic}",
                publish(client, wire(topic)),
            )
            await tally.expect(
                event is DocumentReady,
                f"partner joins its group on {topic}",
                subscribe(client, f"$share/partner/{wire(topic)}"),
            )
        theirs = f"$share/notifier/{wire(DocumentReady.contract.topic)}"
        await tally.expect(False, "partner joins notifier's group", subscribe(client, theirs))
        config = wire(CONFIG_TOPIC.format(service="notifier"))
        await tally.expect(False, "partner writes a config", publish(client, config, retain=True))

    report.append(
        f"broker ACL matrix: {tally.attempts} attempts ({tally.forbidden} unauthorized), "
        f"{tally.refused} refused, "
        f"{len(tally.wrongly_accepted)} unauthorized accepted, "
        f"{len(tally.wrongly_refused)} authorized refused"
    )
    assert tally.forbidden >= 100
    assert tally.wrongly_accepted == []
    assert tally.wrongly_refused == []
