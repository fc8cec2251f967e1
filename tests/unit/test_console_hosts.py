"""The console's ``Host`` allowlist (against DNS rebinding), without a server."""

from __future__ import annotations

import pytest

from bus.tools.console.hosts import host_allowed, split_host

HERE = ("127.0.0.1", 8700)
"""A request that arrived at the console listening on 127.0.0.1:8700."""


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8700", "localhost:8700", "LOCALHOST:8700", "[::1]:8700"]
)
def test_this_machine_on_the_console_s_port_is_accepted(host: str) -> None:
    assert host_allowed(host, HERE)


@pytest.mark.parametrize(
    "host",
    [
        None, "", "evil.example:8700", "evil.example", "127.0.0.1.nip.io:8700",
        "127.0.0.1:8701", "localhost", "127.0.0.1", "[::1]", "127.0.0.1:8700:1",
        "[::1:8700", "localhost:87a0", "10.0.0.5:8700", ":8700",
    ],
)  # fmt: skip
def test_another_name_or_port_is_refused(host: str | None) -> None:
    assert not host_allowed(host, HERE)


def test_the_address_a_request_arrived_at_is_accepted_as_a_literal_only() -> None:
    lan = ("192.168.1.5", 8090)  # a console listening on every address
    assert host_allowed("192.168.1.5:8090", lan)
    assert not host_allowed("console.example:8090", lan)
    assert not host_allowed("192.168.1.6:8090", lan)
    assert host_allowed("localhost:80", ("127.0.0.1", 80))
    assert host_allowed("localhost", ("127.0.0.1", 80))  # port 80 goes unsaid


def test_names_given_are_accepted_with_or_without_their_port() -> None:
    assert host_allowed("console.example:8090", HERE, ["console.example"])
    assert host_allowed("console.example:8700", HERE, ["console.example:8700"])
    assert not host_allowed("console.example:8090", HERE, ["console.example:8700"])
    assert not host_allowed("other.example:8700", HERE, ["console.example"])


def test_without_a_known_server_only_loopback_names_pass() -> None:
    assert host_allowed("localhost:1234", None)
    assert not host_allowed("evil.example:1234", None)


def test_host_headers_split_into_name_and_port() -> None:
    assert split_host("[::1]:8700", 80) == ("::1", 8700)
    assert split_host("[::1]", 80) == ("::1", 80)
    assert split_host("Example.COM", 443) == ("example.com", 443)
    assert split_host("a:b:c", 80) is None
    assert split_host("[::1]x", 80) is None
