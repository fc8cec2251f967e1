"""POST /auth/token: an API key in, a bearer token out."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.gateway.api.deps import GatewayDep, KeyAttemptsDep
from services.gateway.api.responses import INVALID, error, header
from services.gateway.errors import ApiError
from services.gateway.views import TokenGranted, TokenRequest

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    responses={
        400: error("The body cannot be read as JSON ('invalid_body')"),
        401: error("Unknown or revoked API key ('invalid_api_key')"),
        429: error(
            "Too many tries from this client or with this key's prefix ('too_many_attempts')",
            {"Retry-After": header("Seconds until the next try is counted", integer=True)},
        ),
        **INVALID,
    },
)
async def issue_token(
    body: TokenRequest, request: Request, gateway: GatewayDep, attempts: KeyAttemptsDep
) -> TokenGranted:
    """Exchange an API key (from ``accounts``) for a bearer token that expires.

    Tries are limited per client address and per key prefix (see
    :mod:`services.gateway.api.throttle`): past the limit, 429 with ``Retry-After``,
    whether the key is right or not.
    """
    client = request.client.host if request.client else "unknown"
    wait = await attempts.attempt(client, body.api_key)
    if wait:
        detail = f"too many tries at /auth/token; try again in {wait} s"
        raise ApiError(429, "too_many_attempts", detail, {"Retry-After": str(wait)})
    identity = await gateway.accounts.authenticate(body.api_key)
    if identity is None:
        raise ApiError(401, "invalid_api_key", "the API key is unknown or revoked")
    token = await gateway.tokens.issue(identity)
    return TokenGranted(access_token=token, expires_in=gateway.config.token_ttl)
