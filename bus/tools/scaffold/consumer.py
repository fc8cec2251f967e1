"""A new consumer service: its package, its two tiers of tests, its line in services.txt."""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

import contracts
from bus.tools.scaffold import files
from bus.tools.scaffold._source import (
    docstring,
    fit,
    from_import,
    literal,
    signature,
    sort_names,
    string,
)
from bus.tools.scaffold.errors import ScaffoldError
from bus.tools.scaffold.events import resolve_event
from bus.tools.scaffold.examples import ExampleError, example_data
from contracts import Event

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
"""A service name: a lower-case Python identifier (a package under services/)."""

MAX_NAME = 40
"""Longer names make generated lines that no longer fit."""

MAX_STATEMENTS = 50
"""Ruff's limit of statements in one function (PLR0915, ``max-statements``)."""

RESERVED = frozenset(
    {"Outcome", "Event", "BusSettings", "Envelope", "Service", "Publisher", "Callable"}
)
"""Names the generated modules define or import besides the contracts."""

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("bus.tools.scaffold", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,  # Python source, not HTML
)


@dataclass(frozen=True)
class ConsumerPlan:
    """Everything a new consumer writes, rendered and checked, before anything is written.

    Attributes:
        root: The repository.
        name: The service's name (``services/<name>``).
        events: What it consumes, in the order asked for.
        files: New files, relative to ``root``, with their content.
        services_file: ``infra/services.txt`` with the new line, if it is to be changed.
    """

    root: Path
    name: str
    events: tuple[type[Event], ...]
    files: dict[Path, str] = field(default_factory=dict)
    services_file: str | None = None

    @property
    def registered(self) -> bool:
        """Whether ``make up`` runs it once written (listed now, or by this plan)."""
        path = self.root / files.SERVICES_FILE
        return self.services_file is not None or (
            path.is_file() and files.registered(path.read_text(), self.name)
        )

    def write(self) -> None:
        """Write the files and the services file line, all or nothing."""
        replace = {files.SERVICES_FILE: self.services_file} if self.services_file else {}
        files.write_all(self.root, self.files, replace=replace)


def plan_consumer(
    root: Path, name: str, events: Sequence[str], *, register: bool = True
) -> ConsumerPlan:
    """Check the request and render the new consumer, writing nothing.

    Args:
        root: The repository: it has ``services/``, ``tests/unit/``, ``tests/integration/``
            (and ``infra/services.txt`` to register).
        name: The new service's name.
        events: Each event it consumes: a CloudEvents type, a class name or a topic.
        register: Add ``name`` to ``infra/services.txt`` so that ``make up`` runs it.

    Raises:
        ScaffoldError: for a bad or taken name, an unknown event, or a root that is not
            a Chorus repository; nothing has been written.
    """
    _check_root(root, register=register)
    _check_name(root, name)
    chosen = _resolve(events)
    services_file = None
    if register:
        text = (root / files.SERVICES_FILE).read_text()
        if not files.registered(text, name):
            services_file = files.register(text, name)
    return ConsumerPlan(
        root=root,
        name=name,
        events=tuple(chosen),
        files=render_consumer(name, chosen),
        services_file=services_file,
    )


def render_consumer(name: str, events: Sequence[type[Event]]) -> dict[Path, str]:
    """The new consumer's files (relative to the repository) and their content."""
    uses = [_EventUse.of(e) for e in events]
    snakes = [u.snake for u in uses]
    handles = [f"handle_{s}" for s in snakes]
    names = {
        "name": name,
        "events": [u.template_values() for u in uses],
    }
    classes = ", ".join(u.cls for u in uses)
    exported = sort_names(["Outcome", "create_service", "service", *handles])
    package = Path("services") / name
    logic = f"services.{name}.logic"
    return {
        package / "__init__.py": _render(
            "package_init.py.tmpl",
            **names,
            docstring=docstring(
                0, f"The {name} service: its handlers (service.py) and its logic (logic.py)."
            ),
            logic_import=from_import(logic, ["Outcome", *handles]),
            all_list=fit(0, "__all__ = [", [string(n) for n in exported], "]"),
        ),
        package / "service.py": _render(
            "service.py.tmpl",
            **names,
            docstring=docstring(
                0, f"The {name} service.", f"Consumes: {classes}.\nProduces: nothing yet."
            ),
            imports=_imports(
                events,
                {"bus": ["BusSettings", "Envelope", "Service"], logic: ["Outcome", *handles]},
            ),
            statements_noqa=(
                "  # noqa: PLR0915 - one handler per event it consumes"
                if _create_service_statements(len(uses)) > MAX_STATEMENTS
                else ""
            ),
        ),
        package / "logic.py": _render(
            "logic.py.tmpl",
            **names,
            imports=_imports([*events, Event], {}),
            docstring=docstring(
                0,
                f"What the {name} service decides: one plain function per event it consumes.",
                "The handlers in service.py call them and act on what they return (store,"
                " publish); being plain functions, they are tested without the bus.",
            ),
        ),
        Path("tests/unit") / f"test_{name}.py": _render(
            "test_unit.py.tmpl",
            **names,
            imports=_imports(
                events,
                {
                    "bus.testing": ["in_memory"],
                    f"services.{name}": ["Outcome", "create_service", *handles],
                },
            ),
            events_list=_events_list(snakes),
            docstring=docstring(
                0,
                f"The {name} service without a broker: its logic alone, then its handlers "
                "in memory.",
            ),
        ),
        Path("tests/integration") / f"test_{name}.py": _render(
            "test_integration.py.tmpl",
            **names,
            imports=_imports(
                events,
                {
                    "bus": ["BusSettings", "Publisher", "Service"],
                    f"services.{name}": ["Outcome", "create_service"],
                    "tests.helpers": ["eventually"],
                },
            ),
            events_list=_events_list(snakes),
            docstring=docstring(
                0,
                f"The {name} service on the real stack: every event it consumes reaches its "
                "handler.",
            ),
            create_call=fit(
                4,
                "service = create_service(",
                [f'unique("{name}")', "settings", "outcomes=outcomes"],
                ")",
                hug=True,
            ),
        ),
    }


@dataclass(frozen=True)
class _EventUse:
    event: type[Event]
    cls: str
    event_type: str
    snake: str
    example: dict[str, Any]

    @classmethod
    def of(cls, event: type[Event]) -> _EventUse:
        try:
            example = example_data(event)
        except ExampleError as exc:
            raise ScaffoldError(str(exc)) from None
        return cls(event, event.__name__, event.contract.type, snake_case(event.__name__), example)

    def template_values(self) -> dict[str, str]:
        return {
            "cls": self.cls,
            "type": self.event_type,
            "snake": self.snake,
            "handler_def": signature(
                4,
                f"async def on_{self.snake}(",
                [f"event: {self.cls}", "envelope: Envelope"],
                "None",
            ),
            "handler_doc": docstring(8, f"Handle one {self.cls} ({self.event_type})."),
            "logic_def": signature(
                0, f"def handle_{self.snake}(", [f"event: {self.cls}"], "Outcome"
            ),
            "logic_doc": docstring(4, f"Decide what one {self.cls} ({self.event_type}) means."),
            "example_def": signature(0, f"def example_{self.snake}(", [], self.cls),
            "example_doc": docstring(4, f"A valid {self.cls}: make it the case you test."),
            "example_call": (
                f"(\n        {literal(self.example, 8)}\n    )" if self.example else "({})"
            ),
        }


def _create_service_statements(handlers: int) -> int:
    """What ruff's PLR0915 counts in the generated ``create_service`` (see service.py.tmpl)."""
    return 5 + 5 * handlers


def snake_case(name: str) -> str:
    """``DocumentUploaded`` -> ``document_uploaded``, ``HTTPCallMade`` -> ``http_call_made``."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _check_root(root: Path, *, register: bool) -> None:
    needed = [Path("services"), Path("tests/unit"), Path("tests/integration")]
    missing = [str(p) for p in needed if not (root / p).is_dir()]
    if register and not (root / files.SERVICES_FILE).is_file():
        missing.append(f"{files.SERVICES_FILE} (or use --no-register)")
    if missing:
        raise ScaffoldError(f"{root} is not a Chorus repository: no {', '.join(missing)}")


def _check_name(root: Path, name: str) -> None:
    if not NAME.match(name) or keyword.iskeyword(name) or len(name) > MAX_NAME:
        raise ScaffoldError(
            f"bad service name {name!r}: use lower-case letters, digits and '_', starting "
            f"with a letter, at most {MAX_NAME} characters, not a Python keyword"
        )
    taken = [
        p
        for p in (
            Path("services") / name,
            Path("services") / f"{name}.py",
            Path("tests/unit") / f"test_{name}.py",
            Path("tests/integration") / f"test_{name}.py",
        )
        if (root / p).exists()
    ]
    if taken:
        verb = "exists" if len(taken) == 1 else "exist"
        raise ScaffoldError(f"{', '.join(map(str, taken))} already {verb}; choose another name")


def _resolve(names: Sequence[str]) -> list[type[Event]]:
    if not names:
        raise ScaffoldError("name at least one event to consume (--on TYPE)")
    chosen: list[type[Event]] = []
    for name in names:
        event = resolve_event(name)
        if event not in chosen:
            chosen.append(event)
    by_snake: dict[str, type[Event]] = {}
    for event in chosen:
        if event.__name__ in RESERVED:
            raise ScaffoldError(f"a contract named {event.__name__} clashes with the scaffold's")
        other = by_snake.setdefault(snake_case(event.__name__), event)
        if other is not event:
            raise ScaffoldError(
                f"{other.contract.type} and {event.contract.type} have the same class name;"
                " consume them from two services, or one by hand"
            )
    return chosen


def _render(template: str, **values: Any) -> str:
    return _templates.get_template(template).render(**values)


def _imports(events: Iterable[type[Event]], others: dict[str, list[str]]) -> str:
    """The first-party import block as ruff's isort writes it: the contracts (from
    ``contracts``, or the module of a class not re-exported there) and ``others``."""
    modules: dict[str, list[str]] = {k: list(v) for k, v in others.items()}
    for event in events:
        exported = getattr(contracts, event.__name__, None) is event
        module = "contracts" if exported else event.__module__
        if event.__name__ not in modules.setdefault(module, []):
            modules[module].append(event.__name__)
    ordered = sorted(modules, key=lambda m: (m.lower(), m))
    return "\n".join(from_import(module, modules[module]) for module in ordered)


def _events_list(snakes: Sequence[str]) -> str:
    return fit(4, "events = [", [f"example_{s}()" for s in snakes], "]")
