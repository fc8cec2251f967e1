"""Scaffolding: new code that follows the project's shape and passes its checks as written.

``bus new consumer NAME --on TYPE`` uses :func:`plan_consumer` (checks and renders,
writing nothing) and :meth:`ConsumerPlan.write` (all files or none).
:func:`example_data` makes valid data for any contract, for the generated tests.
"""

from bus.tools.scaffold.consumer import ConsumerPlan, plan_consumer, render_consumer, snake_case
from bus.tools.scaffold.errors import ScaffoldError
from bus.tools.scaffold.events import resolve_event
from bus.tools.scaffold.examples import ExampleError, example_data
from bus.tools.scaffold.files import SERVICES_FILE, find_root

__all__ = [
    "SERVICES_FILE",
    "ConsumerPlan",
    "ExampleError",
    "ScaffoldError",
    "example_data",
    "find_root",
    "plan_consumer",
    "render_consumer",
    "resolve_event",
    "snake_case",
]
