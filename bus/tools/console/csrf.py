"""Cross-site request forgery: every action is a POST carrying the session's token, from a
page of the console itself.

Three checks, each enough on its own against a page elsewhere: the session cookie is
SameSite=Strict (a browser does not send it with a request another site starts), the
request's ``Origin`` (or ``Referer``) must be the console's own, and the form must carry
the session's secret token (``csrf_token``), compared in constant time.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, status

from bus.tools.console.auth import Session, operator
from bus.tools.console.forms import Fields

FIELD = "csrf_token"
"""The form field that carries the token."""


async def same_origin(request: Request) -> bool:
    """Whether the request comes from a page of this console: its ``Origin`` (or, without
    one, its ``Referer``) names this host. Neither header: not a browser's cross-site
    request (browsers send ``Origin`` with every cross-site POST). A coroutine, as every
    dependency of the console: FastAPI runs a plain function in a worker thread."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed or claimed == "null":
        return claimed is None
    parts = urlsplit(claimed)
    return parts.netloc == request.headers.get("host") and parts.scheme == request.url.scheme


async def csrf_protected(
    request: Request,
    session: Annotated[Session, Depends(operator)],
    fields: Fields,
) -> Session:
    """The operator's session, if the request passes the checks above (a dependency of
    every action; 403 otherwise)."""
    if not await same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-origin request refused")
    csrf_token = fields.get(FIELD, "")
    if not csrf_token or not hmac.compare_digest(csrf_token.encode(), session.csrf.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")
    return session


ActionDep = Annotated[Session, Depends(csrf_protected)]
