"""Applying :class:`~bus.security.rules.Rules` to Mosquitto's dynamic security plugin.

The plugin takes JSON commands on ``$CONTROL/dynamic-security/v1`` from its admin and
answers on ``.../response``; it saves every change in its own file, so the broker
keeps them across restarts.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from bus._internal.mqtt import QOS1, Client
from bus.security.rules import Rules

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
TIMEOUT = 10.0


class DynSecError(RuntimeError):
    """The plugin refused a command; the message names it and why."""


class DynSec:
    """Commands to the plugin over a connection of its admin (see :data:`DYNSEC_ADMIN`).

    Args:
        client: A connected client logged in as the plugin's admin.
    """

    def __init__(self, client: Client) -> None:
        self.client = client

    async def run(self, *commands: dict[str, Any]) -> list[dict[str, Any]]:
        """Send ``commands`` at once; their responses, in order (each may carry ``error``)."""
        tagged = [{**c, "correlationData": uuid.uuid4().hex} for c in commands]
        wanted = {c["correlationData"] for c in tagged}
        found: dict[str, dict[str, Any]] = {}
        async with (
            asyncio.timeout(TIMEOUT),
            self.client.subscribe(RESPONSE_TOPIC, qos=QOS1) as responses,
        ):
            await self.client.publish(
                CONTROL_TOPIC, json.dumps({"commands": tagged}).encode(), qos=QOS1
            )
            while wanted - found.keys():
                message = await responses.get_message()
                for response in json.loads(message.payload).get("responses", []):
                    if response.get("correlationData") in wanted:
                        found[response["correlationData"]] = response
        return [found[c["correlationData"]] for c in tagged]

    async def must(self, *commands: dict[str, Any]) -> list[dict[str, Any]]:
        """:meth:`run`, raising :class:`DynSecError` on the first refused command."""
        responses = await self.run(*commands)
        for command, response in zip(commands, responses, strict=True):
            if response.get("error"):
                raise DynSecError(f"{command['command']}: {response['error']}")
        return responses

    async def apply(self, rules: Rules, password: str | None = None) -> None:
        """Make the broker's role and clients match ``rules``: ACLs added and removed
        one by one (running clients never lose a right they keep), and one client per
        client id, all with ``password`` (clients of fewer replicas than before stay)."""
        await self._role(rules)
        if password is not None:
            await self._clients(rules, password)

    async def remove(self, role: str, usernames: Iterable[str]) -> None:
        """Delete clients and then their role (what is not there is ignored)."""
        await self.run(*({"command": "deleteClient", "username": u} for u in usernames))
        await self.run({"command": "deleteRole", "rolename": role})

    async def set_password(self, usernames: Sequence[str], password: str) -> None:
        await self.must(*(
            {"command": "setClientPassword", "username": u, "password": password}
            for u in usernames
        ))  # fmt: skip

    async def usernames(self) -> list[str]:
        [response] = await self.must({"command": "listClients", "verbose": False, "count": -1})
        return [str(name) for name in response.get("data", {}).get("clients", [])]

    async def _role(self, rules: Rules) -> None:
        [found] = await self.run({"command": "getRole", "rolename": rules.role})
        if found.get("error"):
            acls = [acl.to_json() for acl in rules.acls]
            await self.must({"command": "createRole", "rolename": rules.role, "acls": acls})
            return
        have = {
            (a["acltype"], a["topic"]): a
            for a in found.get("data", {}).get("role", {}).get("acls", [])
        }
        want = {(a.acltype, a.topic): a.to_json() for a in rules.acls}
        adds = [
            {"command": "addRoleACL", "rolename": rules.role, **acl}
            for key, acl in want.items()
            if have.get(key) != acl
        ]
        removes = [
            {"command": "removeRoleACL", "rolename": rules.role, "acltype": kind, "topic": topic}
            for kind, topic in have
            if (kind, topic) not in want
        ]
        # A changed rule is removed and added again: remove first, in one round trip each.
        changed = [
            {"command": "removeRoleACL", "rolename": rules.role, "acltype": kind, "topic": topic}
            for (kind, topic), acl in want.items()
            if (kind, topic) in have and have[(kind, topic)] != acl
        ]
        if changed:
            await self.must(*changed)
        if adds:
            await self.must(*adds)
        if removes:
            await self.must(*removes)

    async def _clients(self, rules: Rules, password: str) -> None:
        usernames = rules.client_ids or (rules.role,)
        found = await self.run(*({"command": "getClient", "username": u} for u in usernames))
        commands: list[dict[str, Any]] = []
        for username, response in zip(usernames, found, strict=True):
            clientid = username if rules.client_ids else None
            if response.get("error"):
                command = {"command": "createClient", "username": username, "password": password,
                           "roles": [{"rolename": rules.role}]}  # fmt: skip
                if clientid:
                    command["clientid"] = clientid
                commands.append(command)
                continue
            client = response.get("data", {}).get("client", {})
            commands.append({"command": "setClientPassword", "username": username,
                             "password": password})  # fmt: skip
            if clientid and client.get("clientid") != clientid:
                commands.append({"command": "setClientId", "username": username,
                                 "clientid": clientid})  # fmt: skip
            if rules.role not in {r.get("rolename") for r in client.get("roles", [])}:
                commands.append({"command": "addClientRole", "username": username,
                                 "rolename": rules.role})  # fmt: skip
        if commands:
            await self.must(*commands)
