"""JSON Schema as pydantic writes it: what its keywords allow, and helpers to read them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]

ANNOTATIONS = frozenset(
    {
        "$comment",
        "$defs",
        "default",
        "deprecated",
        "description",
        "discriminator",
        "examples",
        "readOnly",
        "title",
        "writeOnly",
    }
)
"""Keywords that describe values but never reject one."""

# Everything else a target adds or changes is reported: the walker errs on the side of caution.
UNDERSTOOD = frozenset(
    {
        "$ref",
        "additionalProperties",
        "allOf",
        "anyOf",
        "const",
        "enum",
        "exclusiveMaximum",
        "exclusiveMinimum",
        "format",
        "items",
        "maxItems",
        "maxLength",
        "maxProperties",
        "maximum",
        "minItems",
        "minLength",
        "minProperties",
        "minimum",
        "multipleOf",
        "oneOf",
        "pattern",
        "prefixItems",
        "properties",
        "propertyNames",
        "required",
        "type",
        "uniqueItems",
    }
)

MISSING: Any = object()
"""A keyword a schema does not have (``None`` is a JSON value: ``null``)."""

MIN_SIZES = ("minLength", "minItems", "minProperties")
MAX_SIZES = ("maxLength", "maxItems", "maxProperties")
DEFS_PREFIX = "#/$defs/"

Bound = tuple[float, bool]
"""A numeric bound: its value and whether it is exclusive."""


def ref_of(schema: Schema) -> str | None:
    ref = schema.get("$ref")
    return ref if isinstance(ref, str) else None


def resolve(schema: Schema, defs: Schema) -> Schema:
    """Follow ``$ref`` (and pydantic's older one-element ``allOf``) to the schema."""
    for _ in range(100):  # a chain of references, never a cycle in practice
        ref = ref_of(schema)
        if ref is not None:
            if not ref.startswith(DEFS_PREFIX) or ref[len(DEFS_PREFIX) :] not in defs:
                msg = f"cannot follow $ref {ref!r}"
                raise ValueError(msg)
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**defs[ref[len(DEFS_PREFIX) :]], **siblings}
        elif isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
            siblings = {k: v for k, v in schema.items() if k != "allOf"}
            schema = {**schema["allOf"][0], **siblings}
        else:
            return schema
    msg = "$ref chain too long"
    raise ValueError(msg)


def validates(schema: Schema) -> bool:
    """Whether the schema rejects anything at all (``{}`` accepts every value)."""
    return any(keyword not in ANNOTATIONS for keyword in schema)


def branches(schema: Schema, raw: Schema | None = None) -> list[Schema]:
    """The alternatives of a union, each with the schema's other validation keywords.

    The annotations stay behind: they were compared with the schema as a whole.
    A schema that is no union is its one alternative, as written (``raw``: its
    ``$ref`` names the model).
    """
    rest = {k: v for k, v in (raw or schema).items() if k not in ANNOTATIONS}
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            rest = {k: v for k, v in schema.items() if k not in ANNOTATIONS and k != keyword}
            return [{**rest, **branch} for branch in schema[keyword]]
    return [rest]


def own_types(schema: Schema) -> set[str] | None:
    """The JSON types a schema allows; ``None`` for any."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    values = enum_values(schema)
    if values is not None:
        return {json_type(v) for v in values}
    if "properties" in schema:
        return {"object"}
    return None


def accepts(types: set[str], value_type: str) -> bool:
    return value_type in types or (value_type == "integer" and "number" in types)


def covers(types: set[str] | None, others: set[str] | None) -> bool:
    """Whether values of the ``others`` types are all of the ``types`` (``None``: any)."""
    if types is None:
        return True
    return others is not None and all(accepts(types, t) for t in others)


def enum_values(schema: Schema) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    values = schema.get("enum")
    return list(values) if isinstance(values, list) else None


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def as_schema(value: Any) -> Schema:
    """JSON Schema's boolean schemas as mappings: ``true`` is ``{}``."""
    if value is True:
        return {}
    if value is False:
        return {"not": {}}
    return value if isinstance(value, Mapping) else {}


def summary(schema: Schema, defs: Schema) -> str:
    """A short name for a schema's type: ``integer | null``, ``Address``."""
    ref = ref_of(schema)
    if ref is not None:
        return ref.rsplit("/", 1)[-1]
    members = branches(schema)
    if len(members) > 1:
        return " | ".join(summary(member, defs) for member in members)
    schema = resolve(schema, defs)
    types = own_types(schema)
    if types is None:
        return "any"
    order = ["string", "integer", "number", "boolean", "array", "object", "null"]
    return " | ".join(sorted(types, key=lambda t: order.index(t) if t in order else len(order)))


# -- numbers -----------------------------------------------------------------


def bound(schema: Schema, side: str, *, integers: bool = False) -> Bound | None:
    """The tighter of ``minimum``/``exclusiveMinimum`` (or the maximums)."""
    inclusive, exclusive = schema.get(side), schema.get(f"exclusive{side.capitalize()}")
    bounds: list[Bound] = []
    if inclusive is not None:
        bounds.append((float(inclusive), False))
    if exclusive is not None:
        bounds.append((float(exclusive), True))
    if integers:  # > 0 and >= 1 are the same bound for integers
        bounds = [_integer_bound(value, open_, side) for value, open_ in bounds]
    if not bounds:
        return None
    tighter = raises if side == "minimum" else lowers
    best = bounds[0]
    for candidate in bounds[1:]:
        if tighter(best, candidate):
            best = candidate
    return best


def _integer_bound(value: float, exclusive: bool, side: str) -> Bound:
    if side == "minimum":
        return (float(math.floor(value) + 1 if exclusive else math.ceil(value)), False)
    return (float(math.ceil(value) - 1 if exclusive else math.floor(value)), False)


def raises(have: Bound, want: Bound) -> bool:
    """Whether the lower bound ``want`` is tighter than ``have``."""
    return want[0] > have[0] or (want[0] == have[0] and want[1] and not have[1])


def lowers(have: Bound, want: Bound) -> bool:
    """Whether the upper bound ``want`` is tighter than ``have``."""
    return want[0] < have[0] or (want[0] == have[0] and want[1] and not have[1])


def is_multiple(step: float | None, of: float) -> bool:
    if step is None or of == 0:
        return False
    ratio = step / of
    return math.isclose(ratio, round(ratio))
