"""``bus console``: the web console, on loopback by default."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bus.loader import ServiceNotFoundError
from bus.security import CredentialStore
from bus.service import Service
from bus.settings import BusSettings
from bus.tools.cli._common import err_console, fail
from bus.tools.console.hosts import valid_host
from bus.tools.console.throttle import LoginLimits
from bus.tools.graph import SERVICES_FILE, load_services, reference_names

if TYPE_CHECKING:
    import uvicorn

DEFAULT_LIMITS = LoginLimits()


def console_command(  # noqa: PLR0917 - typer turns each parameter into an option
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback: only this machine)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on")] = 8090,
    service: Annotated[
        list[str] | None,
        typer.Option(
            "--service",
            metavar="NAME",
            help="Services whose settings the config page edits (NAME or module:attribute; "
            f"repeat). Default: every service in {SERVICES_FILE}",
        ),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            metavar="NAME[:PORT]",
            envvar="CHORUS_CONSOLE_ALLOWED_HOSTS",
            help="A Host name browsers may reach it by besides this machine's own, e.g. "
            "a reverse proxy's (repeat; the variable takes several, space-separated). A NAME "
            "without a port is accepted on any port: give that behind a proxy, whose Host "
            "carries no port. Any other Host is refused, against DNS rebinding",
        ),
    ] = None,
    failed_logins_per_user: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="CHORUS_CONSOLE_FAILED_LOGINS_PER_USER",
            help="Failed logins allowed per user name per window",
        ),
    ] = DEFAULT_LIMITS.per_user,
    failed_logins_per_address: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="CHORUS_CONSOLE_FAILED_LOGINS_PER_ADDRESS",
            help="Failed logins allowed per client address per window",
        ),
    ] = DEFAULT_LIMITS.per_client,
    login_window: Annotated[
        float,
        typer.Option(
            min=1,
            envvar="CHORUS_CONSOLE_LOGIN_WINDOW",
            help="Seconds a window of failed logins lasts",
        ),
    ] = DEFAULT_LIMITS.window,
    ready_file: Annotated[
        Path | None,
        typer.Option(
            help="Written once it serves: its URL, then the folder of the logins' passwords "
            "(make status reads it); removed on exit"
        ),
    ] = None,
) -> None:
    """Serve the web console: services, flow, events, dead letters, config and numbers, live.

    Log in as ops (its password is in the credentials store, ops.json) to act, or as
    ops-readonly (ops-readonly.json, generated on first start) to look only. make up runs
    one on port 8700 (CHORUS_CONSOLE_PORT).
    """
    # The web stack loads only for this command, not for every ``bus`` invocation.
    import uvicorn  # noqa: PLC0415

    from bus.tools.console import Users, create_app  # noqa: PLC0415

    hosts = _hosts(allowed_host)  # the options first: a wrong one needs no credential
    limits = LoginLimits(failed_logins_per_user, failed_logins_per_address, login_window)
    settings = BusSettings()
    try:
        users = Users.from_store(CredentialStore(settings.credentials_dir))
    except LookupError as exc:
        fail(str(exc))
    app = create_app(settings, users, targets=_targets(service), limits=limits,
                     allowed_hosts=hosts)  # fmt: skip
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", proxy_headers=False)
    credentials = f"{settings.credentials_dir}\n"
    asyncio.run(_serve(uvicorn.Server(config), host, ready_file, credentials))


async def _serve(
    server: uvicorn.Server, host: str, ready_file: Path | None, credentials: str
) -> None:
    """Serve until Ctrl-C or SIGTERM (uvicorn's own handlers); once listening, say where
    (port 0 takes a free one) and write ``ready_file``. A port taken exits with uvicorn's
    message and status 3."""

    async def once_listening() -> None:
        while not server.started:  # noqa: ASYNC110 - uvicorn sets a flag, no event
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://{host}:{port}/"
        err_console.print(f"console on {url} (Ctrl-C to stop)", highlight=False)
        if ready_file is not None:
            _write_ready(ready_file, f"{url}\n{credentials}")

    announcing = asyncio.create_task(once_listening())
    try:
        await server.serve()
    finally:
        announcing.cancel()
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)  # noqa: ASYNC240 - one tiny local file


def _write_ready(path: Path, text: str) -> None:
    """At once, whole: a reader never finds it half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.replace(path)


def _hosts(values: list[str] | None) -> list[str]:
    """The ``--allowed-host`` names, each checked: a name or an address, and a port."""
    hosts = list(values or [])
    for host in hosts:
        if not valid_host(host):
            fail(f"--allowed-host {host!r}: give a host name or address, optionally :PORT")
    return hosts


def _targets(names: list[str] | None) -> list[Service]:
    wanted = [n.strip() for value in names or [] for n in value.split(",") if n.strip()]
    if not wanted:
        try:
            wanted = reference_names()
        except FileNotFoundError:
            return []
    try:
        return load_services(wanted)
    except ServiceNotFoundError as exc:
        fail(exc.args[0])
