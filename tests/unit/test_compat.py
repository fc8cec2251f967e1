"""Contract compatibility: every breaking change is caught, every compatible one passes.

The schemas come from small plain pydantic models (not ``Event`` subclasses, which
would register themselves in the global contracts registry).
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

import pytest
from pydantic import BaseModel, ConfigDict, Field

from bus.tools.compat import (
    BASELINE,
    BaselineError,
    Change,
    check,
    diff_schemas,
    diff_snapshots,
    load,
    render,
    snapshot,
)
from contracts import ContractInfo, DocumentUploaded, Event, all_events


class Strict(BaseModel):
    """Like ``Event``: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


def changes(old: type[BaseModel], new: type[BaseModel]) -> list[Change]:
    return diff_schemas("test.thing.v1", old.model_json_schema(), new.model_json_schema())


def breaking(old: type[BaseModel], new: type[BaseModel]) -> list[Change]:
    return [c for c in changes(old, new) if c.breaking]


# -- models, old and new -----------------------------------------------------


class Base(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    count: Annotated[int, Field(ge=0, le=100)]
    ratio: float
    note: int | None = None
    tags: list[int] = []


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class FewerColors(enum.Enum):
    RED = "red"


class Address(Strict):
    city: str


class NarrowAddress(Strict):
    city: Annotated[str, Field(max_length=10)]


class Node(Strict):
    value: int
    children: list[Node] = []


class PositiveNode(Strict):
    value: Annotated[int, Field(gt=0)]
    children: list[PositiveNode] = []


class Cat(Strict):
    kind: Literal["cat"]


class Dog(Strict):
    kind: Literal["dog"]


def variant(**fields: Any) -> type[BaseModel]:
    """``Base`` with some fields replaced (``None`` removes one): the new code."""
    annotations = dict(Base.__annotations__)
    defaults = {n: f for n, f in Base.model_fields.items() if not f.is_required()}
    namespace: dict[str, Any] = {}
    for name, spec in fields.items():
        if spec is None:
            annotations.pop(name)
            defaults.pop(name, None)
            continue
        annotation, *default = spec if isinstance(spec, tuple) else (spec,)
        annotations[name] = annotation
        defaults.pop(name, None)
        if default:
            namespace[name] = default[0]
    for name, info in defaults.items():
        namespace[name] = info.default
    namespace["__annotations__"] = annotations
    namespace["__module__"] = __name__
    return type("Base", (Strict,), namespace)


def pair(old: dict[str, Any], new: dict[str, Any]) -> tuple[type[BaseModel], type[BaseModel]]:
    """Two one-off models with these fields (``{name: annotation or (annotation, default)}``)."""

    def build(fields: dict[str, Any]) -> type[BaseModel]:
        annotations, namespace = {}, {}
        for name, spec in fields.items():
            annotation, *default = spec if isinstance(spec, tuple) else (spec,)
            annotations[name] = annotation
            if default:
                namespace[name] = default[0]
        namespace["__annotations__"] = annotations
        namespace["__module__"] = __name__
        return type("Thing", (Strict,), namespace)

    return build(old), build(new)


# -- breaking changes ----------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "path", "kind", "message"),
    [
        pytest.param(
            Base, variant(ratio=None), "ratio", "field-removed", "field removed", id="removed"
        ),
        pytest.param(
            *pair({"name": str}, {"full_name": str}),
            "name",
            "field-removed",
            "field removed",
            id="renamed",
        ),
        pytest.param(
            *pair({"a": str}, {"a": int}), "a", "type-narrowed", "string -> integer", id="str-int"
        ),
        pytest.param(
            Base,
            variant(note=(int, 0)),
            "note",
            "type-narrowed",
            "type narrowed: integer | null -> integer",
            id="optional-to-required-type",
        ),
        pytest.param(
            Base, variant(ratio=int), "ratio", "type-narrowed", "number -> integer", id="float-int"
        ),
        pytest.param(
            Base,
            variant(name=Annotated[str, Field(min_length=1, max_length=100)]),
            "name",
            "constraint-narrowed",
            "maxLength lowered: 200 -> 100",
            id="maxLength-lowered",
        ),
        pytest.param(
            Base,
            variant(name=Annotated[str, Field(min_length=3, max_length=200)]),
            "name",
            "constraint-narrowed",
            "minLength raised: 1 -> 3",
            id="minLength-raised",
        ),
        pytest.param(
            Base,
            variant(count=Annotated[int, Field(ge=1, le=100)]),
            "count",
            "constraint-narrowed",
            "minimum raised: >= 0 -> >= 1",
            id="minimum-raised",
        ),
        pytest.param(
            Base,
            variant(count=Annotated[int, Field(ge=0, lt=100)]),
            "count",
            "constraint-narrowed",
            "maximum lowered: <= 100 -> < 100",
            id="maximum-lowered",
        ),
        pytest.param(
            *pair({"a": str}, {"a": Annotated[str, Field(pattern=r"^[a-z]+$")]}),
            "a",
            "constraint-narrowed",
            'pattern "^[a-z]+$" added',
            id="pattern-added",
        ),
        pytest.param(
            *pair(
                {"a": Annotated[str, Field(pattern=r"^[a-z]+$")]},
                {"a": Annotated[str, Field(pattern=r"^[a-f]+$")]},
            ),
            "a",
            "constraint-narrowed",
            'pattern changed: "^[a-z]+$" -> "^[a-f]+$"',
            id="pattern-changed",
        ),
        pytest.param(
            *pair({"a": Color}, {"a": FewerColors}),
            "a",
            "enum-narrowed",
            'allowed values lost "blue"',
            id="enum-lost-member",
        ),
        pytest.param(
            *pair({"a": Literal["x", "y"]}, {"a": Literal["x"]}),
            "a",
            "enum-narrowed",
            'allowed values lost "y"',
            id="literal-lost-member",
        ),
        pytest.param(
            *pair({"a": str}, {"a": UUID}),
            "a",
            "constraint-narrowed",
            'format "uuid" added',
            id="format-added",
        ),
        pytest.param(
            *pair({"home": Address}, {"home": NarrowAddress}),
            "home.city",
            "constraint-narrowed",
            "maxLength 10 added",
            id="nested-model-field",
        ),
        pytest.param(
            *pair({"home": Address | None}, {"home": NarrowAddress | None}),
            "home",
            "type-narrowed",
            "Address | null -> NarrowAddress | null",
            id="optional-nested-model",
        ),
        pytest.param(
            Base,
            variant(tags=(list[str], [])),
            "tags[]",
            "type-narrowed",
            "type changed: integer -> string",
            id="array-items",
        ),
        pytest.param(
            *pair({"a": dict[str, float]}, {"a": dict[str, int]}),
            "a.*",
            "type-narrowed",
            "number -> integer",
            id="dict-values",
        ),
        pytest.param(
            Base,
            variant(extra=str),
            "extra",
            "required-field-added",
            "new required field without a default",
            id="new-required-field",
        ),
        pytest.param(
            Base,
            variant(note=int | None),
            "note",
            "field-became-required",
            "became required",
            id="became-required",
        ),
        pytest.param(
            *pair({"pet": Cat | Dog}, {"pet": Dog}),
            "pet",
            "type-narrowed",
            "type narrowed: Cat | Dog -> Dog",
            id="union-lost-member",
        ),
        pytest.param(
            *pair({"a": Any}, {"a": str}), "a", "type-narrowed", "any -> string", id="any-to-str"
        ),
        pytest.param(
            *pair({"a": list[int]}, {"a": set[int]}),
            "a",
            "constraint-narrowed",
            "uniqueItems true added",
            id="list-to-set",
        ),
        pytest.param(
            *pair({"a": tuple[int, str]}, {"a": tuple[int, str, int]}),
            "a",
            "constraint-narrowed",
            "minItems raised: 2 -> 3",
            id="tuple-longer",
        ),
    ],
)
def test_a_breaking_change_is_caught(
    old: type[BaseModel], new: type[BaseModel], path: str, kind: str, message: str
) -> None:
    found = breaking(old, new)
    assert (path, kind) in [(c.path, c.kind) for c in found], found
    assert any(message in c.message for c in found if c.path == path), found


def test_a_nested_model_that_starts_refusing_unknown_fields_is_breaking() -> None:
    class Loose(BaseModel):
        city: str

    old, new = pair({"home": Loose}, {"home": Address})
    assert [(c.path, c.kind) for c in breaking(old, new)] == [("home", "extra-forbidden")]


def test_a_recursive_model_is_followed_once() -> None:
    old, new = pair({"root": Node}, {"root": PositiveNode})
    assert [(c.path, c.message) for c in breaking(old, new)] == [
        ("root.value", "minimum > 0 added")
    ]


# -- compatible changes ----------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "path", "kind", "consumers_first"),
    [
        pytest.param(
            Base, variant(extra=(str | None, None)), "extra", "field-added", True, id="new-optional"
        ),
        pytest.param(Base, variant(extra=(int, 0)), "extra", "field-added", True, id="new-default"),
        pytest.param(Base, variant(count=float), "count", "type-widened", True, id="int-to-float"),
        pytest.param(
            *pair({"a": int}, {"a": int | None}), "a", "type-widened", True, id="int-to-optional"
        ),
        pytest.param(
            *pair({"a": str}, {"a": str | int}), "a", "type-widened", True, id="str-to-union"
        ),
        pytest.param(
            Base,
            variant(name=Annotated[str, Field(min_length=1, max_length=500)]),
            "name",
            "constraint-loosened",
            True,
            id="maxLength-raised",
        ),
        pytest.param(
            Base,
            variant(name=Annotated[str, Field(max_length=200)]),
            "name",
            "constraint-loosened",
            True,
            id="minLength-dropped",
        ),
        pytest.param(
            Base,
            variant(count=Annotated[int, Field(ge=-10)]),
            "count",
            "constraint-loosened",
            True,
            id="bounds-loosened",
        ),
        pytest.param(
            *pair({"a": Annotated[str, Field(pattern="^a")]}, {"a": str}),
            "a",
            "constraint-loosened",
            True,
            id="pattern-removed",
        ),
        pytest.param(
            *pair({"a": FewerColors}, {"a": Color}), "a", "enum-widened", True, id="enum-gained"
        ),
        pytest.param(
            *pair({"home": NarrowAddress}, {"home": Address}),
            "home.city",
            "constraint-loosened",
            True,
            id="nested-loosened",
        ),
        pytest.param(
            Base,
            variant(ratio=Annotated[float, Field(description="How much")]),
            "ratio",
            "annotation-changed",
            False,
            id="description",
        ),
        pytest.param(
            Base, variant(note=(int | None, 5)), "note", "annotation-changed", False, id="default"
        ),
        pytest.param(
            Base, variant(ratio=(float, 1.0)), "ratio", "field-became-optional", True, id="optional"
        ),
        pytest.param(
            *pair({"pet": Dog}, {"pet": Cat | Dog}), "pet", "type-widened", True, id="union-gained"
        ),
    ],
)
def test_a_compatible_change_passes_and_is_listed(
    old: type[BaseModel], new: type[BaseModel], path: str, kind: str, consumers_first: bool
) -> None:
    found = changes(old, new)
    assert not [c for c in found if c.breaking], found
    assert (path, kind, consumers_first) in [(c.path, c.kind, c.consumers_first) for c in found]


def test_the_same_bound_written_another_way_is_no_change() -> None:
    old, new = pair({"a": Annotated[int, Field(gt=0)]}, {"a": Annotated[int, Field(ge=1)]})
    assert changes(old, new) == []
    assert changes(Base, variant()) == []


def test_a_field_with_a_breaking_change_is_not_listed_again_as_compatible() -> None:
    new = variant(name=Annotated[str, Field(min_length=0, max_length=10, description="Who")])
    found = changes(Base, new)
    assert [c.kind for c in found if c.path == "name"] == ["constraint-narrowed"]


# -- versions and event types ------------------------------------------------------


def entry(name: str, version: int, model: type[BaseModel], cls: str = "") -> dict[str, Any]:
    info = ContractInfo(name=name, version=version)
    recorded = {
        "class": cls or f"tests.{model.__name__}V{version}",
        "name": name,
        "version": version,
        "type": info.type,
        "topic": info.topic,
        "schema": model.model_json_schema(),
    }
    loaded: dict[str, Any] = json.loads(json.dumps(recorded))  # plain JSON, as in the file
    return loaded


def snap(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"format": 1, "events": {e["type"]: e for e in entries}}


V1 = entry("things.made", 1, Base, cls="tests.ThingMade")


def test_a_new_version_beside_the_old_one_passes() -> None:
    v2 = entry("things.made", 2, variant(ratio=None, count=str), cls="tests.ThingMadeV2")
    found = diff_snapshots(snap(V1), snap(V1, v2))
    assert [(c.event_type, c.kind, c.breaking) for c in found] == [
        ("things.made.v2", "version-added", False)
    ]


def test_a_brand_new_event_type_passes() -> None:
    other = entry("things.lost", 1, Base)
    found = diff_snapshots(snap(V1), snap(V1, other))
    assert [(c.event_type, c.kind, c.breaking) for c in found] == [
        ("things.lost.v1", "event-added", False)
    ]


def test_a_version_missing_from_the_code_is_breaking() -> None:
    found = diff_snapshots(snap(V1), snap())
    assert [(c.event_type, c.kind, c.breaking) for c in found] == [
        ("things.made.v1", "version-removed", True)
    ]


def test_bumping_the_version_in_place_is_a_changed_type() -> None:
    bumped = entry("things.made", 2, Base, cls="tests.ThingMade")
    found = diff_snapshots(snap(V1), snap(bumped))
    assert [(c.event_type, c.kind, c.breaking) for c in found] == [
        ("things.made.v1", "type-changed", True)
    ]
    assert "things.made.v1 -> things.made.v2" in found[0].message


def test_a_changed_topic_is_breaking() -> None:
    moved = {**V1, "topic": "things/made/elsewhere"}
    found = diff_snapshots(snap(V1), snap(moved))
    assert [(c.kind, c.message) for c in found] == [
        ("topic-changed", "topic changed: things/made/v1 -> things/made/elsewhere")
    ]


def test_breaking_changes_come_first() -> None:
    narrowed = entry("things.made", 1, variant(ratio=int), cls="tests.ThingMade")
    other = entry("things.lost", 1, Base)
    found = diff_snapshots(snap(V1), snap(narrowed, other))
    assert [c.breaking for c in found] == [True, False]


# -- snapshots and the baseline ------------------------------------------------------


def real_contracts() -> list[type[Event]]:
    """The contracts package's events (other tests register throwaway ones)."""
    return [e for e in all_events() if e.__module__.startswith("contracts.")]


def test_a_snapshot_records_schema_topic_and_type() -> None:
    recorded = snapshot([DocumentUploaded])["events"]["documents.uploaded.v1"]
    assert recorded["topic"] == "documents/uploaded/v1"
    assert recorded["type"] == "documents.uploaded.v1"
    assert recorded["class"] == "contracts.documents.uploaded.DocumentUploaded"
    assert recorded["schema"] == DocumentUploaded.model_json_schema()


def test_a_snapshot_renders_to_the_same_bytes_every_time() -> None:
    first, second = render(snapshot(real_contracts())), render(snapshot(real_contracts()))
    assert first == second
    assert first.endswith("}\n")
    assert render(json.loads(first)) == first  # keys sorted, nothing left to reorder


def test_the_committed_baseline_matches_the_contracts() -> None:
    found = check(BASELINE, real_contracts())
    assert not [c for c in found if c.breaking], found


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the baseline"),
        ("{not json", "is not valid JSON"),
        ("[]", "is not a snapshot"),
        ('{"format": 99, "events": {}}', "has format 99"),
        ('{"format": 1, "events": {"a.b.v1": {}}}', "has no schema for a.b.v1"),
    ],
)
def test_a_bad_baseline_says_what_is_wrong(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BaselineError, match=message):
        load(path)
