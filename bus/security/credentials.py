"""Broker credentials on disk: one per service, one for ``ops``, one per outside team.

They live outside git in :attr:`BusSettings.credentials_dir` (default
``~/.config/chorus/credentials``), the folder only its owner may enter and each file
only its owner may read. ``infra/stack.sh`` creates ``ops.json`` and
``dynsec-admin.json`` when it first starts the broker; ``bus credentials apply`` (run by
``make up``) creates one file per service it runs. A replica connects with its own
client id as the user name and its service's password: the broker knows only the
client ids of that service's replicas under it, so no credential can take over another
service's session.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OPS = "ops"
"""The people's and the ``bus`` command line's identity: reads everything, writes
config and replay topics, publishes any event."""

DYNSEC_ADMIN = "dynsec-admin"
"""Changes the broker's users and roles (Mosquitto's dynamic security plugin); nothing else."""

OPS_READONLY = "ops-readonly"
"""The web console's read-only login (``bus console``): sees what ``ops`` sees there, may
change nothing. Not a broker identity: the broker never hears of it."""


@dataclass(frozen=True, slots=True)
class Credential:
    """A user name and password for the broker."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credential(username={self.username!r}, password='**********')"


class CredentialStore:
    """The credential files in one folder.

    Args:
        root: The folder (created owner-only when something is written).
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- reading ------------------------------------------------------------

    def identity(self, name: str) -> Credential | None:
        """``ops`` or ``dynsec-admin``: their file's user name and password."""
        data = self._read(self.root / f"{name}.json")
        return Credential(data["username"], data["password"]) if data else None

    def service_password(self, scoped: str) -> str | None:
        """The password of a service (its name in its namespace), if it has one."""
        data = self._read(self._service_file(scoped))
        return str(data["password"]) if data else None

    def for_replica(self, scoped: str | None, client_id: str) -> Credential | None:
        """Who a connection with ``client_id`` logs in as: the replica of ``scoped`` under
        its own client id when the service has a credential, else ``ops``, else nobody."""
        if scoped is not None and client_id:
            password = self.service_password(scoped)
            if password is not None:
                return Credential(client_id, password)
        return self.identity(OPS)

    def outside(self) -> list[dict[str, Any]]:
        """Every outside team's credential with its rules (``bus credentials add``)."""
        folder = self.root / "outside"
        found = [self._read(path) for path in sorted(folder.glob("*.json"))]
        return [data for data in found if data]

    def outside_entry(self, name: str) -> dict[str, Any] | None:
        return self._read(self.root / "outside" / f"{name}.json")

    # -- writing ------------------------------------------------------------

    def ensure_identity(self, name: str) -> Credential:
        """The identity ``name`` (user name ``name``), its password generated on first use."""
        existing = self.identity(name)
        if existing is not None:
            return existing
        credential = Credential(name, new_password())
        self._write(self.root / f"{name}.json", {"username": name, "password": credential.password})
        return credential

    def ensure_service(self, scoped: str) -> str:
        """The service's password, generated on first use."""
        existing = self.service_password(scoped)
        if existing is not None:
            return existing
        password = new_password()
        self._write(self._service_file(scoped), {"service": scoped, "password": password})
        return password

    def rotate_service(self, scoped: str) -> str:
        password = new_password()
        self._write(self._service_file(scoped), {"service": scoped, "password": password})
        return password

    def remove_service(self, scoped: str) -> bool:
        return _unlink(self._service_file(scoped))

    def save_outside(self, entry: dict[str, Any]) -> None:
        self._write(self.root / "outside" / f"{entry['name']}.json", entry)

    def remove_outside(self, name: str) -> bool:
        return _unlink(self.root / "outside" / f"{name}.json")

    def service_names(self) -> list[str]:
        return sorted(path.stem for path in (self.root / "services").glob("*.json"))

    # -- files --------------------------------------------------------------

    def _service_file(self, scoped: str) -> Path:
        return self.root / "services" / f"{scoped}.json"

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        return data

    def _write(self, path: Path, data: dict[str, Any]) -> None:
        for folder in (self.root, path.parent):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.chmod(0o700)
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(data, file, indent=2)
        temporary.replace(path)


def new_password() -> str:
    """32 random bytes, URL-safe base64."""
    return secrets.token_urlsafe(32)


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
