"""The JSON error for a request the application never sees.

uvicorn parses HTTP with h11 before anything reaches FastAPI. A request h11 refuses (a
header section past its 16 KiB limit, a malformed request line or header) is answered
by uvicorn itself, in plain text: ``400 Invalid HTTP request received.``. This protocol
is uvicorn's own with that answer in the API's shape instead, and with h11's status:
431 for headers too large, 400 otherwise.

Pass it to uvicorn as ``http=GatewayHttpProtocol`` (``uvicorn.Config(http=...)``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol
from uvicorn.server import ServerState

from services.gateway.errors import error_body

_CODES = {431: "headers_too_large"}
_DETAILS = {431: "the request's headers are larger than the server accepts"}


class _Connection(h11.Connection):
    """h11's connection, remembering why it refused the request it could not parse."""

    refused: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:  # h11's own union of event types
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refused = exc
            raise


class GatewayHttpProtocol(H11Protocol):
    """uvicorn's h11 protocol, refusing unparseable requests with the API's JSON error."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limit = config.h11_max_incomplete_event_size
        self.conn = _Connection(
            h11.SERVER, DEFAULT_MAX_INCOMPLETE_EVENT_SIZE if limit is None else limit
        )

    def send_400_response(self, msg: str) -> None:
        refused = getattr(self.conn, "refused", None)
        status = refused.error_status_hint if refused is not None else 400
        code = _CODES.get(status, "invalid_http")
        detail = _DETAILS.get(status) or f"the request is not valid HTTP: {refused or msg}"
        body = error_body(code, detail)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        response = h11.Response(status_code=status, headers=headers, reason=STATUS_PHRASES[status])
        for event in (response, h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()
