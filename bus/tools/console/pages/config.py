"""Config: each service's overrides on the bus, edited with ``bus config``'s own checks
(live fields applied at once by running replicas, the others after a restart)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bus.config import ConfigError, show, update_config
from bus.config.model import parse_value
from bus.config.store import config_store
from bus.service import Service
from bus.settings import BusSettings
from bus.tools.console.auth import SessionDep
from bus.tools.console.csrf import ActionDep
from bus.tools.console.forms import Fields, field
from bus.tools.console.templating import page

router = APIRouter()


@dataclass(frozen=True, slots=True)
class Setting:
    """One key a service's config message may hold, as the page shows it."""

    key: str
    live: bool
    default: str
    override: str | None


@dataclass(frozen=True, slots=True)
class Configured:
    """One service: its settings, and a problem reading its message, if any."""

    name: str
    settings: list[Setting]
    problem: str | None = None


async def read_all(settings: BusSettings, targets: dict[str, Service]) -> list[Configured]:
    """Every target's keys with its retained overrides, over one connection."""
    found = []
    async with config_store(settings) as store:
        for name, target in sorted(targets.items()):
            problem = None
            try:
                overrides: dict[str, Any] = await store.read(name)
            except ConfigError as exc:
                overrides, problem = {}, str(exc)
            config = target.live_config
            baseline = config.baseline()
            keys = sorted({*config.keys, *overrides})
            rows = [
                Setting(key, config.is_live(key), show(baseline[key]) if key in baseline else "",
                        show(overrides[key]) if key in overrides else None)
                for key in keys
            ]  # fmt: skip
            found.append(Configured(name, rows, problem))
    return found


@router.get("/config", response_class=HTMLResponse)
async def config_page(
    request: Request, session: SessionDep, done: str = "", error: str = ""
) -> HTMLResponse:
    services = await read_all(request.app.state.settings, request.app.state.targets)
    return page(request, "config.html", services=services, done=done, error=error,
                status_code=status.HTTP_400_BAD_REQUEST if error else 200)  # fmt: skip


@router.post("/config/{service}/{action}")
async def config_action(
    request: Request, session: ActionDep, service: str, action: Literal["set", "unset"],
    fields: Fields,
) -> Response:  # fmt: skip
    """Set ``key`` to ``value`` (read as JSON when it is JSON, as ``bus config set`` does),
    or remove its override; refused with the reason, nothing published, if it does not
    pass the service's settings."""
    targets: dict[str, Service] = request.app.state.targets
    target = targets.get(service)
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no declaration of {service} here")
    key, value = field(fields, "key").strip(), fields.get("value", "")
    try:
        if action == "set":
            edit = await update_config(target.live_config, request.app.state.settings,
                                       assign={key: parse_value(value)})  # fmt: skip
        else:
            edit = await update_config(target.live_config, request.app.state.settings,
                                       remove=[key])  # fmt: skip
    except ConfigError as exc:
        query = urlencode({"error": f"invalid config for {service}: {exc}; nothing was published"})
        return RedirectResponse(f"/config?{query}", status.HTTP_303_SEE_OTHER)
    if not edit.changed:
        done = f"{service}: nothing changed"
    elif key not in edit.after:
        done = f"{service}: {key} removed"
    else:
        when = "live" if target.live_config.is_live(key) else "after a restart"
        done = f"{service}: {key}={show(edit.after[key])} (running replicas apply it {when})"
    return RedirectResponse(f"/config?{urlencode({'done': done})}", status.HTTP_303_SEE_OTHER)
