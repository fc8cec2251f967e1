"""The web console (``bus console``): who runs, the flow with its traffic, dead letters
and config, live in a browser, behind the ``ops`` login (``ops-readonly`` may only look).

Tooling: the runtime never imports it.
"""

from bus.tools.console.app import create_app
from bus.tools.console.auth import Role, Users

__all__ = ["Role", "Users", "create_app"]
