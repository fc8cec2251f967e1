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


def credentials_dir() -> Path:
    configured = os.environ.get("BUS_CREDENTIALS_DIR")
    if configured:
        return Path(configured)
    home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return home / "chorus" / "credentials"


def identity(folder: Path, name: str) -> dict[str, str]:
    """The identity's file, created with a random password the first time."""
    path = folder / f"{name}.json"
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text())
        return data
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    data = {"username": name, "password": secrets.token_urlsafe(32)}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(data, file, indent=2)
    return data


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
    admin, ops = identity(folder, "dynsec-admin"), identity(folder, "ops")
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
