"""Logging in and out."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bus.tools.console.auth import COOKIE, Sessions, Users
from bus.tools.console.csrf import same_origin
from bus.tools.console.forms import Fields, field
from bus.tools.console.templating import ago, page
from bus.tools.console.throttle import LoginAttempts

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> HTMLResponse:
    return page(request, "login.html")


@router.post("/login")
async def login(request: Request, fields: Fields) -> Response:
    """Open a session for a known login; a wrong one gets the form again, with 401. Past
    the failed logins allowed (:mod:`bus.tools.console.throttle`), 429 with
    ``Retry-After``, the password unchecked."""
    if not await same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-origin request refused")
    username, password = field(fields, "username"), field(fields, "password")
    client = request.client.host if request.client else "unknown"
    attempts: LoginAttempts = request.app.state.login_attempts
    wait = await attempts.attempt(client, username)
    if wait:
        refused = page(request, "login.html", status.HTTP_429_TOO_MANY_REQUESTS,
                       error=f"too many failed logins; try again in {ago(wait)}",
                       username=username, throttled=True)  # fmt: skip
        refused.headers["retry-after"] = str(wait)
        return refused
    users: Users = request.app.state.users
    role = users.check(username, password)
    if role is None:
        return page(request, "login.html", status.HTTP_401_UNAUTHORIZED,
                    error="wrong user name or password", username=username)  # fmt: skip
    await attempts.succeeded(client, username)
    sessions: Sessions = request.app.state.sessions
    session = await sessions.open(username, role, password)
    response = RedirectResponse("/", status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        COOKIE, session.token, max_age=int(sessions.lifetime), httponly=True,
        samesite="strict", secure=request.url.scheme == "https", path="/",
    )  # fmt: skip
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Close the session; from a page of the console only (another site must not be
    able to log its users out)."""
    if not await same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-origin request refused")
    sessions: Sessions = request.app.state.sessions
    await sessions.close(request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, path="/")
    return response
