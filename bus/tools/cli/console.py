"""``bus console``: the web console, on loopback by default."""

from __future__ import annotations

from typing import Annotated

import typer

from bus.loader import ServiceNotFoundError
from bus.security import CredentialStore
from bus.service import Service
from bus.settings import BusSettings
from bus.tools.cli._common import err_console, fail
from bus.tools.graph import SERVICES_FILE, load_services, reference_names


def console_command(
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
) -> None:
    """Serve the web console: services, flow, dead letters and config, live.

    Log in as ops (its password is in the credentials store, ops.json) to act, or as
    ops-readonly (ops-readonly.json, generated on first start) to look only.
    """
    # The web stack loads only for this command, not for every ``bus`` invocation.
    import uvicorn  # noqa: PLC0415

    from bus.tools.console import Users, create_app  # noqa: PLC0415

    settings = BusSettings()
    try:
        users = Users.from_store(CredentialStore(settings.credentials_dir))
    except LookupError as exc:
        fail(str(exc))
    app = create_app(settings, users, targets=_targets(service))
    err_console.print(f"console on http://{host}:{port}/ (Ctrl-C to stop)", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)


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
