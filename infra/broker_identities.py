#!/usr/bin/env python3
"""Bootstrap the broker's identities before Mosquitto starts (stdlib only).

    python3 infra/broker_identities.py DYNSEC_FILE

Creates, once, the two identities every stack needs, in the credentials folder
($BUS_CREDENTIALS_DIR, default ~/.config/chorus/credentials, owner-only):
``dynsec-admin.json`` (manages users and roles through Mosquitto's dynamic security
plugin) and ``ops.json`` (people, the bus command line, tests). Then writes them into
DYNSEC_FILE, the plugin's own file, creating it if needed: Mosquitto must not be
running (stack.sh calls this right before it starts the broker). Service identities
and their rules come later, from ``bus credentials apply`` (make up).

Passwords never appear on a command line: the plugin stores salted PBKDF2-SHA512
hashes, computed here as ``mosquitto_ctrl`` would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

# The credentials folder and its files are stack_secrets.py's (same folder, run as a script).
from stack_secrets import credentials_dir, login

ITERATIONS = 101  # what mosquitto_ctrl uses

ADMIN_ACLS = [  # as `mosquitto_ctrl dynsec init` writes them
    {"acltype": "publishClientSend", "topic": "$CONTROL/dynamic-security/#", "allow": True},
    {"acltype": "publishClientReceive", "topic": "$CONTROL/dynamic-security/#", "allow": True},
    {"acltype": "subscribePattern", "topic": "$CONTROL/dynamic-security/#", "allow": True},
    {"acltype": "publishClientReceive", "topic": "$SYS/#", "allow": True},
    {"acltype": "subscribePattern", "topic": "$SYS/#", "allow": True},
    {"acltype": "publishClientReceive", "topic": "#", "allow": True},
    {"acltype": "subscribePattern", "topic": "#", "allow": True},
    {"acltype": "unsubscribePattern", "topic": "#", "allow": True},
]

OPS_ACLS = [  # bus.security.rules.OPS_RULES (tests/unit/test_security.py keeps them equal)
    {"acltype": "publishClientSend", "topic": "#", "allow": True, "priority": 10},
    {"acltype": "subscribePattern", "topic": "#", "allow": True, "priority": 10},
    {"acltype": "subscribePattern", "topic": "$share/#", "allow": True, "priority": 10},
    {"acltype": "subscribePattern", "topic": "$SYS/#", "allow": True, "priority": 10},
    {"acltype": "publishClientReceive", "topic": "$SYS/#", "allow": True, "priority": 10},
]

DEFAULT_ACCESS = {
    "publishClientSend": False,
    "publishClientReceive": True,
    "subscribe": False,
    "unsubscribe": True,
}


def hashed(password: str) -> dict[str, Any]:
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": ITERATIONS,
    }


def put(items: list[dict[str, Any]], key: str, item: dict[str, Any]) -> None:
    for n, existing in enumerate(items):
        if existing.get(key) == item[key]:
            items[n] = {**existing, **item}
            return
    items.append(item)


def main(dynsec_file: Path) -> None:
    folder = credentials_dir()
    admin, ops = login(folder, "dynsec-admin", "dynsec-admin"), login(folder, "ops", "ops")
    config: dict[str, Any] = {"clients": [], "roles": [], "defaultACLAccess": DEFAULT_ACCESS}
    if dynsec_file.exists():
        config = json.loads(dynsec_file.read_text())
    put(config["roles"], "rolename", {"rolename": "admin", "acls": ADMIN_ACLS})
    put(config["roles"], "rolename", {"rolename": "ops", "acls": OPS_ACLS})
    for who, role in ((admin, "admin"), (ops, "ops")):
        client = {"username": who["username"], "roles": [{"rolename": role}]}
        put(config["clients"], "username", {**client, **hashed(who["password"])})
    dynsec_file.parent.mkdir(parents=True, exist_ok=True)
    temporary = dynsec_file.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(config, file, indent=2)
    temporary.replace(dynsec_file)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
