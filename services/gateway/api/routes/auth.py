"""POST /auth/token: an API key in, a bearer token out."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.api.deps import GatewayDep
from services.gateway.errors import ApiError
from services.gateway.views import TokenGranted, TokenRequest

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", responses={401: {"description": "Unknown or revoked API key"}})
async def issue_token(body: TokenRequest, gateway: GatewayDep) -> TokenGranted:
    """Exchange an API key (from ``accounts``) for a bearer token that expires."""
    identity = await gateway.accounts.authenticate(body.api_key)
    if identity is None:
        raise ApiError(401, "invalid_api_key", "the API key is unknown or revoked")
    token = await gateway.tokens.issue(identity)
    return TokenGranted(access_token=token, expires_in=gateway.config.token_ttl)
