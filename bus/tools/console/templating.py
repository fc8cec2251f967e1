"""Rendering pages and fragments with the console's Jinja2 templates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from bus.config import show

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def ago(seconds: float) -> str:
    """``42s``, ``5m 3s``, ``2h 10m``."""
    total = max(0, round(seconds))
    if total >= 3600:
        return f"{total // 3600}h {total % 3600 // 60}m"
    if total >= 60:
        return f"{total // 60}m {total % 60}s"
    return f"{total}s"


def since(moment: datetime) -> str:
    return ago((datetime.now(UTC) - moment).total_seconds())


templates.env.filters["ago"] = ago
templates.env.filters["since"] = since
templates.env.filters["show"] = show


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A whole page (``name``), with the session (``session``) for the menu and forms."""
    session = getattr(request.state, "session", None)
    return templates.TemplateResponse(
        request, name, {"session": session, **context}, status_code=status_code
    )


def fragment(name: str, **context: Any) -> str:
    """A template rendered to text, for a live update."""
    return templates.get_template(name).render(**context)
