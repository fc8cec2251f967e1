"""Valid example data for any contract, from its JSON Schema.

A field's own ``examples`` (``Field(examples=[...])``) come first; otherwise a value
is made from the schema: a fixed UUID for ``format: uuid``, a timestamp for
``date-time``, a string of the field's name fitted to its length limits or sampled
from its ``pattern``, a number inside its bounds, one item for a list, nested models
field by field, optional fields filled in (not left to their default). The result is
validated against the model; a value the model refuses is replaced by the next
candidate for that field (a naive datetime for a model that wants one, the field's
default, ``None`` for an optional field) until the model accepts the whole.

A contract whose constraints defeat this (a custom validator, a pattern with
lookarounds) gets a clear :class:`ExampleError`: give the field ``examples=[...]``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from bus.tools.scaffold._regex import sample

Path = tuple[str | int, ...]
"""Where a value sits in the data, as pydantic's error ``loc`` names it."""

MAX_DEPTH = 3
"""Nesting below which optional parts (list items, optional fields) are left out."""

MAX_ROUNDS = 64
"""Validation rounds before giving up (each one moves one refused field on)."""

_UUID_NAMESPACE = uuid.UUID("6f1c2e8a-3b7d-4f5e-9a0c-1d2e3f4a5b6c")

_FORMATS: dict[str, list[str]] = {
    "date-time": ["2024-05-01T12:00:00Z", "2024-05-01T12:00:00"],
    "date": ["2024-05-01"],
    "time": ["12:00:00", "12:00:00Z"],
    "duration": ["PT1M"],
    "email": ["alice@example.com"],
    "idn-email": ["alice@example.com"],
    "uri": ["https://example.com/"],
    "uri-reference": ["https://example.com/"],
    "iri": ["https://example.com/"],
    "hostname": ["example.com"],
    "ipv4": ["192.0.2.1"],
    "ipv6": ["2001:db8::1"],
    "ipvanyaddress": ["192.0.2.1"],
    "ipvanyinterface": ["192.0.2.1/24"],
    "ipvanynetwork": ["192.0.2.0/24"],
    "path": ["example.txt"],
    "file-path": ["/etc/hostname"],
    "directory-path": ["/tmp"],
    "binary": ["example"],
    "base64url": ["ZXhhbXBsZQ=="],
    "password": ["example-secret"],
    "json-string": ['{"example": 1}'],
}
"""Example strings per JSON Schema / pydantic ``format``, the likeliest first."""

_BY_NAME: list[tuple[str, str]] = [
    ("email", "alice@example.com"),
    ("filename", "report.txt"),
    ("content_type", "text/plain"),
    ("mime", "text/plain"),
    ("url", "https://example.com/report.txt"),
    ("uri", "https://example.com/report.txt"),
    ("language", "en"),
]
"""Friendlier strings for fields whose name contains one of these words."""


class ExampleError(ValueError):
    """No valid example could be made for a model; the message says which field and why."""


def example_data(model: type[BaseModel]) -> dict[str, Any]:
    """JSON-compatible data that ``model.model_validate`` accepts, the same on every call.

    Raises:
        ExampleError: when the model refuses every candidate for some field.
    """
    schema = model.model_json_schema()
    maker = _Maker(defs=schema.get("$defs", {}))
    last: ValidationError | None = None
    for _ in range(MAX_ROUNDS):
        maker.seen.clear()
        data = maker.value(schema, (), 0, 0)
        try:
            model.model_validate(data)
        except ValidationError as exc:
            last = exc
            if not any(maker.next_candidate(tuple(e["loc"])) for e in exc.errors()):
                break
            continue
        if not isinstance(data, dict):  # pragma: no cover - a model's schema is an object
            raise ExampleError(f"{model.__qualname__}: its schema is not an object")
        return data
    problems = "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}"
        for e in (last.errors() if last else [])
    )
    raise ExampleError(
        f"no valid example for {model.__qualname__} ({problems}); "
        "give the field an example: Field(examples=[...])"
    )


@dataclass
class _Maker:
    defs: dict[str, Any]
    choice: dict[Path, int] = field(default_factory=dict)
    seen: dict[Path, int] = field(default_factory=dict)
    """The paths of this round that had a choice, with how many candidates."""

    def next_candidate(self, loc: Path) -> bool:
        """Move the deepest choice on ``loc`` that has one left to its next candidate."""
        for end in range(len(loc), -1, -1):
            path = loc[:end]
            count = self.seen.get(path)
            if count is not None and self.choice.get(path, 0) + 1 < count:
                self.choice[path] = self.choice.get(path, 0) + 1
                return True
        return False

    def value(self, schema: dict[str, Any], path: Path, depth: int, salt: int) -> Any:
        if depth > 4 * MAX_DEPTH:
            raise ExampleError(f"{'.'.join(map(str, path))}: required fields nest without end")
        candidates = list(self.candidates(schema, path, depth, salt))
        if not candidates:
            return None
        if len(candidates) > 1:
            self.seen[path] = len(candidates)
        return candidates[min(self.choice.get(path, 0), len(candidates) - 1)]

    def candidates(  # noqa: PLR0912 - one branch per kind of schema
        self, schema: dict[str, Any], path: Path, depth: int, salt: int
    ) -> Iterator[Any]:
        """Every value worth trying for ``schema`` at ``path``, the best first."""
        if "$ref" in schema:
            target = self.defs[schema["$ref"].rsplit("/", 1)[-1]]
            yield from self.candidates({**target, **_without(schema, "$ref")}, path, depth, salt)
            return
        yield from schema.get("examples") or []
        if "example" in schema:
            yield schema["example"]
        if "const" in schema:
            yield schema["const"]
            return
        if schema.get("enum"):
            yield from schema["enum"]
            return
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            rest = _without(schema, "anyOf", "oneOf", "default")
            real = [b for b in branches if b.get("type") != "null"]
            for branch in real:
                yield from self.candidates({**rest, **branch}, path, depth, salt)
            if len(real) < len(branches):
                yield None
            yield from _default(schema)
            return
        if schema.get("allOf"):
            merged = _without(schema, "allOf")
            for part in schema["allOf"]:
                merged = {**part, **merged}
            yield from self.candidates(merged, path, depth, salt)
            return
        kind = schema.get("type")
        if isinstance(kind, list):
            branches = [{**_without(schema, "type"), "type": k} for k in kind]
            yield from self.candidates({"anyOf": branches}, path, depth, salt)
            return
        if kind == "object" or "properties" in schema:
            yield self.object(schema, path, depth, salt)
        elif kind == "array":
            yield self.array(schema, path, depth, salt)
        elif kind == "string":
            yield from _strings(schema, path, salt)
        elif kind == "integer":
            yield from _numbers(schema, salt, integer=True)
        elif kind == "number":
            yield from _numbers(schema, salt, integer=False)
        elif kind == "boolean":
            yield from (True, False)
        elif kind == "null":
            yield None
        else:  # no type: any value
            yield from _default(schema)
            yield _name_string(path, salt)
            yield None
        yield from _default(schema)

    def object(self, schema: dict[str, Any], path: Path, depth: int, salt: int) -> dict[str, Any]:
        required = set(schema.get("required", []))
        data: dict[str, Any] = {}
        for key, sub in schema.get("properties", {}).items():
            if depth >= MAX_DEPTH and key not in required:
                continue
            data[key] = self.value(sub, (*path, key), depth + 1, salt)
        extra = schema.get("additionalProperties")
        if not data and isinstance(extra, dict) and schema.get("minProperties", 0) > 0:
            data["key"] = self.value(extra, (*path, "key"), depth + 1, salt)
        return data

    def array(self, schema: dict[str, Any], path: Path, depth: int, salt: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        if prefix:
            return [
                self.value(sub, (*path, i), depth + 1, salt + i) for i, sub in enumerate(prefix)
            ]
        low = schema.get("minItems", 0)
        high = schema.get("maxItems")
        count = max(low, 0 if depth >= MAX_DEPTH else 1)
        if high is not None:
            count = min(count, high)
        items = schema.get("items")
        if not isinstance(items, dict):
            items = {}
        return [self.value(items, (*path, i), depth + 1, salt + i) for i in range(count)]


def _without(schema: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in keys}


def _default(schema: dict[str, Any]) -> Iterator[Any]:
    if "default" in schema:
        yield schema["default"]


def _strings(schema: dict[str, Any], path: Path, salt: int) -> Iterator[str]:
    low = schema.get("minLength", 0)
    high = schema.get("maxLength")
    pattern = schema.get("pattern")
    fmt = schema.get("format")
    if pattern:
        sampled = sample(pattern)
        if sampled is not None:
            yield sampled
    if fmt == "uuid" or fmt in ("uuid1", "uuid3", "uuid4", "uuid5"):
        yield str(uuid.uuid5(_UUID_NAMESPACE, f"{'.'.join(map(str, path))}/{salt}"))
    for candidate in _FORMATS.get(fmt or "", []):
        yield _fit(candidate, low, high)
    yield _fit(_name_string(path, salt), low, high)


def _name_string(path: Path, salt: int) -> str:
    key = next((p for p in reversed(path) if isinstance(p, str)), "example")
    text = next((v for word, v in _BY_NAME if word in key.lower()), f"example-{key}")
    return text if salt == 0 else f"{text}-{salt}"


def _fit(text: str, low: int, high: int | None) -> str:
    if len(text) < low:
        text += "x" * (low - len(text))
    if high is not None and len(text) > high:
        text = text[:high]
    return text


def _numbers(schema: dict[str, Any], salt: int, *, integer: bool) -> Iterator[int | float]:
    low, high = schema.get("minimum"), schema.get("maximum")
    low_open, high_open = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    step = schema.get("multipleOf")
    wanted = 1 + salt
    tries: list[float] = [wanted]
    for bound in (low, high):
        if bound is not None:
            tries.append(bound)
    if low_open is not None:
        tries.append(low_open + (1 if integer else 0.5))
    if high_open is not None:
        tries.append(high_open - (1 if integer else 0.5))
    lo = low if low is not None else low_open
    hi = high if high is not None else high_open
    if lo is not None and hi is not None:
        tries.append((lo + hi) / 2)
    for raw in tries:
        value = _snap(raw, step, integer)
        if (
            (low is None or value >= low)
            and (high is None or value <= high)
            and (low_open is None or value > low_open)
            and (high_open is None or value < high_open)
        ):
            yield value


def _snap(value: float, step: float | None, integer: bool) -> int | float:
    if step:
        value = math.ceil(value / step) * step
    if integer:
        return math.ceil(value)
    return float(value)
