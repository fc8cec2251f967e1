"""``POST /auth/token`` limits tries per client address and per key prefix (429 with
Retry-After), over real HTTP to the running gateway, its windows in the real Redis."""

from __future__ import annotations

import secrets

import httpx
import pytest

from services.gateway import GatewaySettings
from services.gateway.api.throttle import PREFIX_LENGTH
from tests.system.conftest import Pipeline
from tests.system.test_bad_requests import refused

pytestmark = pytest.mark.timeout(120)

LIMITS = GatewaySettings()  # what the pipeline's gateway runs with


def wrong_key(prefix: str = "chorus_") -> str:
    return prefix + secrets.token_urlsafe(32)[: 50 - len(prefix)]


def client_at(pipeline: Pipeline, address: str) -> httpx.AsyncClient:
    """A client whose requests come from ``address`` (any of 127.0.0.0/8 reaches the
    gateway on 127.0.0.1)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=pipeline.url, transport=transport, timeout=60)


def too_many(answer: httpx.Response) -> None:
    refused(answer, 429, "too_many_attempts")
    assert 1 <= int(answer.headers["Retry-After"]) <= LIMITS.token_attempt_window


async def test_a_client_hammering_wrong_keys_is_stopped_and_others_are_not(
    pipeline: Pipeline,
) -> None:
    user, _ = await pipeline.user("target@example.com")  # one try from 127.0.0.1
    statuses = []
    async with client_at(pipeline, "127.0.0.1") as attacker:
        for _ in range(LIMITS.token_attempts_per_client + 5):
            answer = await attacker.post("/auth/token", json={"api_key": wrong_key()})
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                too_many(answer)
        # Refused before the key is looked at: a right key learns nothing either.
        too_many(await attacker.post("/auth/token", json={"api_key": user.api_key}))
    allowed = LIMITS.token_attempts_per_client - 1
    assert statuses == [401] * allowed + [429] * (len(statuses) - allowed)

    async with client_at(pipeline, "127.0.0.2") as other:
        answer = await other.post("/auth/token", json={"api_key": user.api_key})
    assert answer.status_code == 200, answer.text
    assert answer.json()["access_token"]


async def test_keys_of_one_prefix_are_stopped_from_any_address(pipeline: Pipeline) -> None:
    user, _ = await pipeline.user("owner@example.com")  # the owner's try counts too
    prefix = user.api_key[:PREFIX_LENGTH]
    for n in range(LIMITS.token_attempts_per_key_prefix - 1):  # no client limit is near
        async with client_at(pipeline, f"127.0.1.{n + 1}") as guesser:
            answer = await guesser.post("/auth/token", json={"api_key": wrong_key(prefix)})
        refused(answer, 401, "invalid_api_key")
    async with client_at(pipeline, "127.0.2.1") as fresh:
        too_many(await fresh.post("/auth/token", json={"api_key": wrong_key(prefix)}))
        # Another prefix is another window.
        refused(
            await fresh.post("/auth/token", json={"api_key": wrong_key()}), 401, "invalid_api_key"
        )
