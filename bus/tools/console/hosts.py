"""Which ``Host`` the console answers (against DNS rebinding): a page of another site,
whose name its owner points at 127.0.0.1, reaches the console with that name in
``Host``; the console refuses it, before any cookie or page.

Accepted: this machine by name or address (``127.0.0.1``, ``localhost``, ``[::1]``) on
the port the request arrived at, the address it arrived at itself (an IP literal:
no name to rebind), and the names given to :func:`~bus.tools.console.create_app`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def split_host(host: str, default_port: int) -> tuple[str, int] | None:
    """A ``Host`` header's name (lower case, IPv6 without brackets) and port; None if
    it is not one."""
    host = host.strip().lower()
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else ""
    else:
        name, _, port_text = host.partition(":")
        if ":" in port_text:
            return None
    if not name:
        return None
    if not port_text:
        return name, default_port
    if not port_text.isdigit() or int(port_text) > 65535:
        return None
    return name, int(port_text)


_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def valid_host(text: str) -> bool:
    """Whether ``text`` names a host as ``allowed`` takes it: a DNS name or an IP
    address (IPv6 in brackets), optionally ``:port``."""
    parts = split_host(text, 0)
    if parts is None:
        return False
    name, bracketed = parts[0], text.strip().startswith("[")
    if _ip(name) is not None:
        return bracketed == (":" in name)  # IPv6 in brackets, IPv4 without
    # No trailing dot: Host headers are compared as they come, and browsers send none.
    return (
        not bracketed
        and len(name) <= 253
        and all(_LABEL.fullmatch(label) for label in name.split("."))
    )


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def host_allowed(
    host: str | None,
    server: tuple[str, int | None] | None,
    allowed: Iterable[str] = (),
    *,
    default_port: int = 80,
) -> bool:
    """Whether a request with this ``Host`` header may go on.

    Args:
        host: The header (None: the request has none).
        server: The address and port the request arrived at (the ASGI ``server``), None
            if unknown: then the loopback names on any port.
        allowed: Names (``name`` on any port, or ``name:port``) accepted as well.
        default_port: The port a header without one means (80 for HTTP).
    """
    parts = split_host(host, default_port) if host else None
    if parts is None:
        return False
    name, port = parts
    for extra in allowed:
        extra_parts = split_host(extra, 0)
        if extra_parts is not None and extra_parts[0] == name and extra_parts[1] in (0, port):
            return True
    if server is None:
        return name in LOOPBACK_NAMES
    address, server_port = server
    if server_port is not None and port != server_port:
        return False
    if name in LOOPBACK_NAMES:
        return True
    here, claimed = _ip(address), _ip(name)
    return here is not None and claimed is not None and here == claimed
