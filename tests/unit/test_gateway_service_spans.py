"""The gateway's ``ServiceSpans`` middleware while the process records no spans: the
client's W3C trace context still reaches what the request publishes."""

from __future__ import annotations

import pytest
from starlette.types import Receive, Scope, Send

from bus import tracing
from services.gateway.api import main

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def _nothing() -> dict[str, object]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _ignore(message: object) -> None:
    return None


def _scope(headers: list[tuple[bytes, bytes]]) -> Scope:
    return {"type": "http", "method": "GET", "path": "/", "headers": headers}


@pytest.fixture
def not_recording(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(main, "recording", lambda: False)


@pytest.mark.usefixtures("not_recording")
async def test_the_clients_trace_context_reaches_what_the_request_publishes() -> None:
    seen: list[dict[str, str]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(tracing.inject())  # what service.publish puts in the envelope

    middleware = main.ServiceSpans(app, service="gateway")
    await middleware(_scope([(b"traceparent", TRACEPARENT.encode())]), _nothing, _ignore)
    await middleware(_scope([]), _nothing, _ignore)
    assert seen[0].get("traceparent") == TRACEPARENT
    assert "traceparent" not in seen[1]  # and it does not leak into the next request
    assert "traceparent" not in tracing.inject()
