"""What a request can end in, besides its reply. Each message names the query."""

from __future__ import annotations


class RequestError(RuntimeError):
    """A request got no usable reply.

    Attributes:
        query_type: The query's type, ``accounts.quota_left.v1``.
    """

    def __init__(self, query_type: str, message: str) -> None:
        super().__init__(message)
        self.query_type = query_type


class RequestTimeoutError(RequestError, TimeoutError):
    """No reply came within the timeout (the responders are slow, or one took the query
    and died, or none is connected but a stopped one's session still holds the
    subscription; the query expires on the broker with the timeout)."""

    def __init__(self, query_type: str, timeout: float) -> None:
        super().__init__(query_type, f"no reply to {query_type} within {timeout:g} s")
        self.timeout = timeout


class NoResponderError(RequestError):
    """The broker said that no subscription matched the query (MQTT 5 PUBACK reason
    0x10): no service answering it is connected, nor has a session waiting for it."""

    def __init__(self, query_type: str, topic: str) -> None:
        message = f"no responder for {query_type}: nothing subscribes to {topic}"
        super().__init__(query_type, message)


class RequestNotAllowedError(RequestError, PermissionError):
    """The broker refused the query (PUBACK 0x87) or the reply subscription: this
    identity does not declare the query (``Service(asks=[...])``)."""


class RequestFailedError(RequestError):
    """The responder answered with an error (see :mod:`bus.requests.wire`).

    Attributes:
        code: ``failed`` (the responder raised), ``invalid_query`` (the query did not
            fit its contract), ``invalid_reply`` (the reply did not fit its own).
        detail: The responder's message.
    """

    def __init__(self, query_type: str, code: str, detail: str) -> None:
        super().__init__(query_type, f"{query_type} failed ({code}): {detail}")
        self.code = code
        self.detail = detail
