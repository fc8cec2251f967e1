"""Dependencies the routes declare: the gateway state and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.accounts import Identity
from services.gateway.api.throttle import KeyAttempts
from services.gateway.errors import ApiError
from services.gateway.state import Gateway

_bearer = HTTPBearer(auto_error=False)

# The dependencies are coroutines, however trivial: FastAPI runs a plain function in a
# worker thread, a hop that cost the gateway more than the lookup itself.


async def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def get_key_attempts(request: Request) -> KeyAttempts:
    attempts: KeyAttempts = request.app.state.key_attempts
    return attempts


KeyAttemptsDep = Annotated[KeyAttempts, Depends(get_key_attempts)]


async def current_user(
    gateway: GatewayDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Identity:
    """The caller, from a valid bearer token; 401 otherwise."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise ApiError(401, "unauthenticated", "send 'Authorization: Bearer <token>'", challenge)
    identity = await gateway.tokens.resolve(credentials.credentials)
    if identity is None:
        raise ApiError(401, "invalid_token", "the token is unknown or has expired", challenge)
    return identity


UserDep = Annotated[Identity, Depends(current_user)]
