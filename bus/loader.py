"""Finding a service object by name, for ``bus run NAME``."""

from __future__ import annotations

import importlib

from bus.service import Service


class ServiceNotFoundError(LookupError):
    """No service by that name."""


def load_service(name: str) -> Service:
    """The service ``NAME`` (``services.NAME.service``), or ``module:attribute``."""
    module_name, _, attribute = name.partition(":")
    if not attribute:
        module_name, attribute = f"services.{name}", "service"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ServiceNotFoundError(
                f"no service named {name!r} ({module_name} not found)"
            ) from None
        raise
    service = getattr(module, attribute, None)
    if not isinstance(service, Service):
        raise ServiceNotFoundError(f"{module_name}.{attribute} is not a bus.Service")
    return service
