"""Which values one JSON Schema accepts that another rejects.

The walker compares a *source* schema with a *target* schema and reports every
place where a value valid under the source is rejected by the target (a
``problem``), plus changes that reject nothing (annotations, fields dropped
from a model that ignores unknown fields). It understands the JSON Schema that
pydantic writes: ``type``, ``$ref``/``$defs``, ``anyOf``/``oneOf``, ``enum``,
``const``, objects, arrays, tuples and the string, number and size
constraints. A keyword it does not understand is treated as a narrowing
whenever the target adds or changes it, so the walker errs on the side of
reporting.

``flip`` says that the source is the *new* schema: findings always describe
the change from old to new, whichever way the walk goes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bus.tools.compat._keywords import (
    ANNOTATIONS,
    MAX_SIZES,
    MIN_SIZES,
    MISSING,
    UNDERSTOOD,
    Schema,
    accepts,
    as_schema,
    bound,
    branches,
    covers,
    enum_values,
    is_multiple,
    lowers,
    own_types,
    raises,
    ref_of,
    resolve,
    summary,
    validates,
)
from bus.tools.compat._messages import bound_change, limit_change, show_values, value_change

# Titles are left out: pydantic derives them from field and class names, which never travel.
_SHOWN_ANNOTATIONS = ("description", "default", "examples", "deprecated")

_NEW_REQUIRED = "new required field without a default"


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference at one place of a schema.

    Attributes:
        path: The field it concerns: ``owner``, ``address.city``, ``tags[]``,
            ``details.*`` (a dict's values); empty for the schema as a whole.
        kind: A stable code such as ``field-removed`` or ``constraint-loosened``.
        message: What changed, from old to new, for a person.
        problem: Some value valid under the source is rejected by the target.
    """

    path: str
    kind: str
    message: str
    problem: bool


class Walker:
    """Compares a source schema with a target schema; see the module docstring."""

    def __init__(
        self,
        source_defs: Schema,
        target_defs: Schema,
        *,
        flip: bool = False,
        annotations: bool = True,
    ) -> None:
        self._defs = (source_defs, target_defs)
        self._flip = flip
        self._annotations = annotations
        self._refs_in_progress: set[tuple[str | None, str | None]] = set()

    # -- entry -------------------------------------------------------------

    def compare(self, source: Schema, target: Schema, path: str) -> list[Finding]:
        """Every finding for ``source`` against ``target`` at ``path``."""
        refs = (ref_of(source), ref_of(target))
        if refs != (None, None):
            if refs in self._refs_in_progress:
                return []  # a recursive model: its fields are being compared already
            self._refs_in_progress.add(refs)
        try:
            raw = source, target
            source, target = resolve(source, self._defs[0]), resolve(target, self._defs[1])
            # A model's own annotations against a field's would compare unlike things.
            alike = (refs[0] is None) == (refs[1] is None)
            findings = self._annotation_changes(source, target, path) if alike else []
            if not validates(target):
                return findings
            source_branches, target_branches = branches(source, raw[0]), branches(target, raw[1])
            if len(source_branches) == 1 and len(target_branches) == 1:
                return findings + self._compare_one(source, target, path)
            for branch in source_branches:
                findings += self._match(branch, target_branches, raw, path)
            return findings
        finally:
            self._refs_in_progress.discard(refs)

    # -- helpers that orient a finding from old to new -----------------------

    def _old_new(self, source_value: Any, target_value: Any) -> tuple[Any, Any]:
        return (target_value, source_value) if self._flip else (source_value, target_value)

    def _kind(self, narrowing: str, widening: str) -> str:
        return widening if self._flip else narrowing

    def _problem(self, path: str, kind: str, message: str) -> Finding:
        return Finding(path, kind, message, problem=True)

    # -- unions ------------------------------------------------------------

    def _match(
        self,
        branch: Schema,
        candidates: Sequence[Schema],
        whole: tuple[Schema, Schema],
        path: str,
    ) -> list[Finding]:
        """A source branch must be accepted by one target branch."""
        trials = [self.compare(branch, candidate, path) for candidate in candidates]
        for findings in trials:
            if not any(f.problem for f in findings):
                return findings
        alike = [
            [f for f in findings if f.problem]
            for candidate, findings in zip(candidates, trials, strict=True)
            if self._alike(branch, candidate)
        ]
        if alike:  # the same kind of value, narrowed inside: say where
            return min(alike, key=len)
        return [self._type_finding(whole[0], whole[1], path)]

    def _alike(self, branch: Schema, candidate: Schema) -> bool:
        """Whether two union members are the same kind of value (the same model)."""
        refs = ref_of(branch), ref_of(candidate)
        if refs[0] is not None and refs[1] is not None:
            return refs[0] == refs[1]
        return bool((self._types(branch, 0) or set()) & (self._types(candidate, 1) or set()))

    def _types(self, schema: Schema, side: int) -> set[str] | None:
        schema = resolve(schema, self._defs[side])
        members = branches(schema)
        if len(members) > 1:
            found: set[str] = set()
            for branch in members:
                types = self._types(branch, side)
                if types is None:
                    return None  # one member accepts anything
                found |= types
            return found
        return own_types(schema)

    def _type_finding(self, source: Schema, target: Schema, path: str) -> Finding:
        old, new = self._old_new(source, target)
        old_defs, new_defs = self._old_new(*self._defs)
        old_text, new_text = summary(old, old_defs), summary(new, new_defs)
        old_types, new_types = self._old_new(self._types(source, 0), self._types(target, 1))
        old_members, new_members = set(old_text.split(" | ")), set(new_text.split(" | "))
        if old_members < new_members:
            verb = "widened"
        elif new_members < old_members:
            verb = "narrowed"
        elif covers(new_types, old_types) and not covers(old_types, new_types):
            verb = "widened"
        elif covers(old_types, new_types) and not covers(new_types, old_types):
            verb = "narrowed"
        else:
            verb = "changed"
        kind = self._kind("type-narrowed", "type-widened")
        return self._problem(path, kind, f"type {verb}: {old_text} -> {new_text}")

    # -- one schema against one schema ---------------------------------------

    def _compare_one(self, source: Schema, target: Schema, path: str) -> list[Finding]:
        source_types, target_types = own_types(source), own_types(target)
        if target_types is not None and (
            source_types is None or not all(accepts(target_types, t) for t in source_types)
        ):
            return [self._type_finding(source, target, path)]
        findings = self._enum(source, target, path)
        findings += self._sizes(source, target, path)
        findings += self._numbers(source, target, source_types or set(), path)
        findings += self._strings(source, target, path)
        findings += self._arrays(source, target, path)
        findings += self._objects(source, target, path)
        findings += self._unknown_keywords(source, target, path)
        return findings

    def _enum(self, source: Schema, target: Schema, path: str) -> list[Finding]:
        allowed = enum_values(target)
        if allowed is None:
            return []
        offered = enum_values(source)
        if offered is None:
            old, new = self._old_new(offered, allowed)
            if old is None:
                message = f"values limited to {show_values(new)}"
            else:
                message = f"no longer limited to {show_values(old)}"
            return [self._problem(path, self._kind("enum-narrowed", "enum-widened"), message)]
        missing = [v for v in offered if v not in allowed]
        if not missing:
            return []
        verb = "gained" if self._flip else "lost"
        kind = self._kind("enum-narrowed", "enum-widened")
        return [self._problem(path, kind, f"allowed values {verb} {show_values(missing)}")]

    def _sizes(self, source: Schema, target: Schema, path: str) -> list[Finding]:
        findings = []
        kind = self._kind("constraint-narrowed", "constraint-loosened")
        for keyword in MIN_SIZES:
            limit = target.get(keyword)
            if limit is not None and source.get(keyword, 0) < limit:
                old, new = self._old_new(source.get(keyword), limit)
                findings.append(self._problem(path, kind, limit_change(keyword, old, new)))
        for keyword in MAX_SIZES:
            limit = target.get(keyword)
            if limit is not None and (source.get(keyword) is None or source[keyword] > limit):
                old, new = self._old_new(source.get(keyword), limit)
                findings.append(self._problem(path, kind, limit_change(keyword, old, new)))
        return findings

    def _numbers(
        self, source: Schema, target: Schema, source_types: set[str], path: str
    ) -> list[Finding]:
        findings = []
        kind = self._kind("constraint-narrowed", "constraint-loosened")
        integers = source_types == {"integer"}
        for side, tighter in (("minimum", raises), ("maximum", lowers)):
            have = bound(source, side, integers=integers)
            want = bound(target, side, integers=integers)
            if want is not None and (have is None or tighter(have, want)):
                old, new = self._old_new(bound(source, side), bound(target, side))
                message = bound_change(side, old, new)
                findings.append(self._problem(path, kind, message))
        step = target.get("multipleOf")
        if step is not None and not is_multiple(source.get("multipleOf"), step):
            old, new = self._old_new(source.get("multipleOf"), step)
            findings.append(self._problem(path, kind, limit_change("multipleOf", old, new)))
        return findings

    def _strings(self, source: Schema, target: Schema, path: str) -> list[Finding]:
        findings = []
        kind = self._kind("constraint-narrowed", "constraint-loosened")
        for keyword in ("pattern", "format"):
            wanted = target.get(keyword)
            if wanted is not None and source.get(keyword) != wanted:
                old, new = self._old_new(source.get(keyword, MISSING), wanted)
                findings.append(self._problem(path, kind, value_change(keyword, old, new)))
        if target.get("uniqueItems") and not source.get("uniqueItems"):
            old, new = self._old_new(source.get("uniqueItems", MISSING), True)
            findings.append(self._problem(path, kind, value_change("uniqueItems", old, new)))
        return findings

    def _arrays(self, source: Schema, target: Schema, path: str) -> list[Finding]:
        if not any(k in s for s in (source, target) for k in ("items", "prefixItems")):
            return []
        source_prefix, target_prefix = source.get("prefixItems", []), target.get("prefixItems", [])
        source_rest = as_schema(source.get("items", True))
        target_rest = as_schema(target.get("items", True))
        findings = []
        for index in range(max(len(source_prefix), len(target_prefix))):
            if index >= source.get("maxItems", math.inf):
                continue  # the source has no such item; maxItems/minItems say the rest
            here = source_prefix[index] if index < len(source_prefix) else source_rest
            there = target_prefix[index] if index < len(target_prefix) else target_rest
            findings += self.compare(here, there, f"{path}[{index}]")
        if "items" in source or "items" in target:
            findings += self.compare(source_rest, target_rest, f"{path}[]")
        return findings

    def _objects(self, source: Schema, target: Schema, path: str) -> list[Finding]:
        findings: list[Finding] = []
        source_fields, target_fields = source.get("properties", {}), target.get("properties", {})
        source_extra = source.get("additionalProperties", True)
        target_extra = target.get("additionalProperties", True)
        for name, field in source_fields.items():
            here = _join(path, name)
            if name in target_fields:
                findings += self.compare(field, target_fields[name], here)
            elif isinstance(target_extra, Mapping):
                findings += self.compare(field, target_extra, here)
            else:
                findings.append(self._missing_field(source, name, here, target_extra is False))
        if isinstance(source_extra, Mapping):
            for name in target_fields.keys() - source_fields.keys():
                findings += self.compare(source_extra, target_fields[name], _join(path, name))
        findings += self._required(source, target, path)
        if target_extra is False and source_extra is not False:
            kind = self._kind("extra-forbidden", "extra-allowed")
            verb = "now accepts" if self._flip else "no longer accepts"
            findings.append(self._problem(path, kind, f"{verb} fields it does not declare"))
        elif isinstance(target_extra, Mapping) and source_extra is not False:
            findings += self.compare(as_schema(source_extra), target_extra, _join(path, "*"))
        if "propertyNames" in target:
            names = source.get("propertyNames", {})
            findings += self.compare(names, target["propertyNames"], _join(path, "<key>"))
        return findings

    def _missing_field(self, source: Schema, name: str, path: str, rejected: bool) -> Finding:
        kind = self._kind("field-removed", "field-added")
        if not self._flip:
            message = "field removed" if rejected else "field removed (unknown fields are ignored)"
        else:
            required = name in source.get("required", ())
            message = "new required field" if required else "new optional field"
        return Finding(path, kind, message, problem=rejected)

    def _required(self, source: Schema, target: Schema, path: str) -> list[Finding]:
        findings = []
        source_required = set(source.get("required", ()))
        source_fields = source.get("properties", {})
        for name in target.get("required", ()):
            if name in source_required:
                continue
            if name in source_fields:
                kind = self._kind("field-became-required", "field-became-optional")
                message = "became optional" if self._flip else "became required"
            else:
                kind = self._kind("required-field-added", "required-field-removed")
                message = "required field removed" if self._flip else _NEW_REQUIRED
            findings.append(self._problem(_join(path, name), kind, message))
        return findings

    def _unknown_keywords(self, source: Schema, target: Schema, path: str) -> list[Finding]:
        findings = []
        for keyword, value in target.items():
            if keyword in UNDERSTOOD or keyword in ANNOTATIONS:
                continue
            if source.get(keyword, MISSING) == value:
                continue
            old, new = self._old_new(source.get(keyword, MISSING), value)
            kind = self._kind("keyword-changed", "keyword-changed")
            findings.append(self._problem(path, kind, value_change(keyword, old, new)))
        return findings

    def _annotation_changes(self, source: Schema, target: Schema, path: str) -> list[Finding]:
        if not self._annotations:
            return []
        findings = []
        for keyword in _SHOWN_ANNOTATIONS:
            here, there = source.get(keyword, MISSING), target.get(keyword, MISSING)
            if here != there:
                message = value_change(keyword, *self._old_new(here, there))
                findings.append(Finding(path, "annotation-changed", message, problem=False))
        return findings


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
