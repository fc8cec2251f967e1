#!/usr/bin/env python3
"""The local stack's generated secrets (stdlib and the openssl command only).

    python3 infra/stack_secrets.py tls            CA + server certificate; prints their folder
    python3 infra/stack_secrets.py login NAME     NAME.json, created once; prints nothing
    python3 infra/stack_secrets.py password NAME  NAME.json's password (for health checks)
    python3 infra/stack_secrets.py redis-acl      the Redis ACL line of redis.json's user
    python3 infra/stack_secrets.py scram NAME     PostgreSQL's SCRAM-SHA-256 verifier of NAME.json
    .venv/bin/python infra/stack_secrets.py rotate-mongo PORT
                                                  FerretDB's user gets a new password
    python3 infra/stack_secrets.py compose-env    the logins for infra/compose.yaml: compose/*.env

Everything lives in the credentials folder ($BUS_CREDENTIALS_DIR, default
~/.config/chorus/credentials, mode 700, files 600), next to the broker identities
that infra/broker_identities.py writes, and is made the first time a server needs it:

    redis.json                              {"username": "default", "password": ...}
    postgres.json, mongo.json               {"username": "chorus", "password": ...}
    postgres-ferretdb.json                  {"username": "ferretdb", "password": ...}: the
                                            PostgreSQL role FerretDB keeps its data as
    tls/ca.crt, tls/ca.key                  a CA of this machine's own (10 years)
    tls/server.crt, tls/server.key          localhost, 127.0.0.1, ::1; renewed when
                                            under 30 days are left or the CA changed

Several stacks may start at once (tests run private ones), so each step holds an
exclusive lock on the folder. Delete a file (or tls/) to rotate it: see infra/README.md.
No secret is ever passed on a command line: the servers get hashes (Redis, PostgreSQL)
or an environment variable (FerretDB: its user's password, and its PostgreSQL role's).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

APP_USER = "chorus"
"""The user name of the PostgreSQL role and the FerretDB user."""

REDIS_USER = "default"
"""Redis's own user, given a password. Not a user of our own with ``default`` off: Redis 7.0
replays the append-only file as ``default``, and drops every MULTI/EXEC in it (NOPERM) when
that user may run no command (measured with 7.0.15: a transaction written, Redis
restarted, its keys gone)."""

CA_DAYS = 3650
SERVER_DAYS = 825
RENEW_SECONDS = 30 * 24 * 3600
SERVER_NAMES = "DNS:localhost,IP:127.0.0.1,IP:::1"
SCRAM_ITERATIONS = 4096  # PostgreSQL's default (scram_iterations)

USERNAMES = {"redis": REDIS_USER, "postgres-ferretdb": "ferretdb"}
"""The user of each login file that is not :data:`APP_USER`'s."""


def credentials_dir() -> Path:
    """As bus.settings.BusSettings.credentials_dir and infra/broker_identities.py."""
    configured = os.environ.get("BUS_CREDENTIALS_DIR")
    if configured:
        return Path(configured)
    home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return home / "chorus" / "credentials"


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    descriptor = os.open(folder / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def write_private(path: Path, text: str) -> None:
    """Write ``path`` owner-only, atomically."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(descriptor, "w") as file:  # mkstemp: mode 600
        file.write(text)
    os.replace(temporary, path)


# -- logins -------------------------------------------------------------------------


def login(folder: Path, name: str, username: str | None = None) -> dict[str, str]:
    """``NAME.json``: a user (``username``; default: the store's) and a random password,
    created the first time."""
    path = folder / f"{name}.json"
    with locked(folder):
        if not path.exists():
            user = username or USERNAMES.get(name, APP_USER)
            data = {"username": user, "password": secrets.token_urlsafe(32)}
            write_private(path, json.dumps(data, indent=2) + "\n")
    stored: dict[str, str] = json.loads(path.read_text())
    return stored


def redis_acl(folder: Path) -> str:
    """The ACL line of Redis's one user: every key, channel and command, with a password
    (of which Redis keeps only the SHA-256)."""
    user = login(folder, "redis")
    digest = hashlib.sha256(user["password"].encode()).hexdigest()
    return f"user {REDIS_USER} on #{digest} ~* &* +@all"


def scram_verifier(password: str) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password (RFC 5802/7677), so that
    ``ALTER ROLE ... PASSWORD`` never carries the password itself."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def rotate_mongo(folder: Path, port: int) -> None:
    """FerretDB keeps its users itself: log in with mongo.json's password, change it
    (``updateUser``), then write the new one. Needs pymongo (the project's virtualenv)."""
    from pymongo import MongoClient  # noqa: PLC0415 - only this command needs a driver

    with locked(folder):
        path = folder / "mongo.json"
        user: dict[str, str] = json.loads(path.read_text())
        fresh = {**user, "password": secrets.token_urlsafe(32)}
        client: MongoClient[dict[str, object]] = MongoClient(
            "127.0.0.1", port, username=user["username"], password=user["password"],
            authSource="admin", authMechanism="SCRAM-SHA-256", serverSelectionTimeoutMS=5000,
        )  # fmt: skip
        with client:
            client.admin.command("updateUser", user["username"], pwd=fresh["password"])
        write_private(path, json.dumps(fresh, indent=2) + "\n")


def compose_env(folder: Path) -> None:
    """``compose/<service>.env``: what each container of infra/compose.yaml needs to set
    its password (read by docker compose on the host: env_file)."""
    redis, postgres, mongo = (login(folder, name) for name in ("redis", "postgres", "mongo"))
    files = {
        "redis.env": {"CHORUS_REDIS_PASSWORD": redis["password"]},
        "postgres.env": {"POSTGRES_USER": postgres["username"],
                         "POSTGRES_PASSWORD": postgres["password"]},
        "mongo.env": {"MONGO_INITDB_ROOT_USERNAME": mongo["username"],
                      "MONGO_INITDB_ROOT_PASSWORD": mongo["password"]},
    }  # fmt: skip
    target = folder / "compose"
    with locked(folder):
        target.mkdir(mode=0o700, exist_ok=True)
        for name, variables in files.items():
            write_private(target / name, "".join(f"{k}={v}\n" for k, v in variables.items()))


# -- TLS ----------------------------------------------------------------------------


def openssl(*args: str) -> str:
    done = subprocess.run(
        ["openssl", *args], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        sys.exit(f"openssl {args[0]} failed: {done.stderr.strip()}")
    return done.stdout


def valid_for(certificate: Path, seconds: int) -> bool:
    checked = subprocess.run(
        ["openssl", "x509", "-checkend", str(seconds), "-noout", "-in", str(certificate)],
        capture_output=True,
        check=False,
    )
    return checked.returncode == 0


def signed_by(certificate: Path, ca: Path) -> bool:
    checked = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), str(certificate)],
        capture_output=True,
        check=False,
    )
    return checked.returncode == 0


def make_ca(tls: Path) -> None:
    openssl(
        "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-noenc", "-keyout", str(tls / "ca.key"), "-out", str(tls / "ca.crt"),
        "-days", str(CA_DAYS), "-subj", f"/O=Chorus/CN=Chorus local CA ({socket.gethostname()})",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip


def make_server(tls: Path) -> None:
    with tempfile.TemporaryDirectory(dir=tls) as scratch:
        request, extensions = Path(scratch) / "server.csr", Path(scratch) / "server.ext"
        key = Path(scratch) / "server.key"
        openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
            "-keyout", str(key), "-out", str(request), "-subj", "/O=Chorus/CN=localhost",
        )  # fmt: skip
        extensions.write_text(
            f"subjectAltName={SERVER_NAMES}\n"
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid\n"
        )
        certificate = Path(scratch) / "server.crt"
        openssl(
            "x509", "-req", "-in", str(request), "-CA", str(tls / "ca.crt"),
            "-CAkey", str(tls / "ca.key"), "-set_serial", f"0x{secrets.token_hex(16)}",
            "-days", str(SERVER_DAYS), "-extfile", str(extensions), "-out", str(certificate),
        )  # fmt: skip
        key.chmod(0o600)
        os.replace(key, tls / "server.key")
        os.replace(certificate, tls / "server.crt")


def ensure_tls(folder: Path) -> Path:
    """The CA and the server certificate, (re)made as needed; their folder."""
    tls = folder / "tls"
    with locked(folder):
        tls.mkdir(mode=0o700, exist_ok=True)
        tls.chmod(0o700)
        old_umask = os.umask(0o077)  # openssl writes the keys with the umask's mode
        try:
            if not (tls / "ca.key").exists() or not valid_for(tls / "ca.crt", RENEW_SECONDS):
                make_ca(tls)
            server = tls / "server.crt"
            if not (
                (tls / "server.key").exists()
                and server.exists()
                and valid_for(server, RENEW_SECONDS)
                and signed_by(server, tls / "ca.crt")
            ):
                make_server(tls)
        finally:
            os.umask(old_umask)
        for name in ("ca.crt", "server.crt"):  # not secret, but nobody else needs them
            (tls / name).chmod(0o600)
    return tls


def main(argv: list[str]) -> None:
    folder = credentials_dir()
    match argv:
        case ["tls"]:
            print(ensure_tls(folder))
        case ["login", name]:
            login(folder, name)
        case ["password", name]:
            print(login(folder, name)["password"])
        case ["redis-acl"]:
            print(redis_acl(folder))
        case ["scram", name]:
            print(scram_verifier(login(folder, name)["password"]))
        case ["compose-env"]:
            compose_env(folder)
        case ["rotate-mongo", port]:
            rotate_mongo(folder, int(port))
        case _:
            sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
