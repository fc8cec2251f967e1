"""One request on a connection of its own, for scripts and ``bus request``."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, TypeVar

from bus._internal.mqtt import connected_client
from bus.requests.requester import ask
from bus.settings import BusSettings
from contracts.query import Query, Reply

if TYPE_CHECKING:
    from bus.security.credentials import Credential

R = TypeVar("R", bound=Reply)


async def request(
    query: Query[R],
    *,
    timeout: float = 2.0,  # noqa: ASYNC109 - it travels: the query's expiry on the broker
    settings: BusSettings | None = None,
    client_id: str | None = None,
    credential: Credential | None = None,
) -> R:
    """Ask ``query`` outside any service and return its typed reply.

    It connects (as the settings say: ``ops`` on the local stack), subscribes to its
    reply topic, asks, and disconnects. Raises what :meth:`bus.Service.request` raises.

    Args:
        query: The query.
        timeout: Seconds to wait for the reply.
        settings: Connections; default: from the environment.
        client_id: The connection's client id (its reply topic is named after it);
            default: ``request-<random>``.
        credential: Log in as this instead.
    """
    settings = settings or BusSettings()
    client_id = client_id or f"request-{uuid.uuid4().hex[:12]}"
    async with connected_client(settings, client_id=client_id, credential=credential) as client:
        return await ask(client, settings, client_id, query, timeout=timeout)
