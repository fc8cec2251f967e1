"""A string that a regular expression matches, for the ``pattern`` of a JSON Schema string.

It walks the pattern as Python's own parser reads it and takes the first choice at
every turn (the first character of a class, the fewest repeats, at least one, the
first alternative). That covers the patterns contracts use (``^[0-9a-f]{64}$``,
``^[A-Z]{3}$``, ``^v\\d+(\\.\\d+)*$``); lookarounds and back-references to unmatched
groups may defeat it, and then it says so by returning ``None``.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

try:
    # The stdlib's own pattern parser; private, but stable since 3.11 (sre_parse before,
    # which now warns on import). typeshed has no stubs for it, hence Any.
    _parser: Any = importlib.import_module("re._parser")
    _c: Any = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover - a Python without them gets no pattern samples
    _parser = _c = None

_CANDIDATES = "a0xA_-. 9zZ"
"""Characters tried, in order, for a class given as what it excludes."""


def sample(pattern: str) -> str | None:
    """A short string that ``re.search(pattern, ...)`` matches, or None if none was found."""
    if _parser is None:
        return None
    try:
        parsed = _parser.parse(pattern)
        text = _emit(parsed, {})
    except (re.error, ValueError, KeyError, TypeError, OverflowError):
        return None
    return text if re.search(pattern, text) else None


def _emit(items: Any, groups: dict[int, str]) -> str:
    return "".join(_one(op, av, groups) for op, av in items)


def _one(op: Any, av: Any, groups: dict[int, str]) -> str:  # noqa: PLR0911 - one return per opcode
    if op is _c.LITERAL:
        return chr(av)
    if op is _c.NOT_LITERAL:
        return next(ch for ch in _CANDIDATES if ord(ch) != av)
    if op is _c.ANY:
        return "a"
    if op is _c.IN:
        return _in_class(av)
    if op is _c.CATEGORY:
        return _category(av)
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
        low, high, item = av
        count = low if low > 0 or high == 0 else 1
        return "".join(_emit(item, groups) for _ in range(count))
    if op is _c.SUBPATTERN:
        group, _add, _del, item = av
        text = _emit(item, groups)
        if group is not None:
            groups[group] = text
        return text
    if op is getattr(_c, "ATOMIC_GROUP", None):
        return _emit(av, groups)
    if op is _c.BRANCH:
        return _emit(av[1][0], groups)
    if op is _c.GROUPREF:
        return groups[av]
    if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
        return ""
    raise ValueError(f"no sample for {op}")


def _in_class(items: list[tuple[Any, Any]]) -> str:
    if items and items[0][0] is _c.NEGATE:
        rest = items[1:]
        return next(ch for ch in _CANDIDATES if not any(_contains(op, av, ch) for op, av in rest))
    op, av = items[0]
    if op is _c.LITERAL:
        return chr(av)
    if op is _c.RANGE:
        return chr(av[0])
    if op is _c.CATEGORY:
        return _category(av)
    raise ValueError(f"no sample for class item {op}")


def _contains(op: Any, av: Any, ch: str) -> bool:
    if op is _c.LITERAL:
        return bool(ord(ch) == av)
    if op is _c.RANGE:
        return bool(av[0] <= ord(ch) <= av[1])
    if op is _c.CATEGORY:
        return _matches_category(av, ch)
    return True  # unknown: assume it excludes the character


def _category(code: Any) -> str:
    return {
        _c.CATEGORY_DIGIT: "0",
        _c.CATEGORY_NOT_DIGIT: "a",
        _c.CATEGORY_SPACE: " ",
        _c.CATEGORY_NOT_SPACE: "a",
        _c.CATEGORY_WORD: "a",
        _c.CATEGORY_NOT_WORD: "-",
    }[code]


def _matches_category(code: Any, ch: str) -> bool:
    word = ch.isalnum() or ch == "_"
    return {
        _c.CATEGORY_DIGIT: ch.isdigit(),
        _c.CATEGORY_NOT_DIGIT: not ch.isdigit(),
        _c.CATEGORY_SPACE: ch.isspace(),
        _c.CATEGORY_NOT_SPACE: not ch.isspace(),
        _c.CATEGORY_WORD: word,
        _c.CATEGORY_NOT_WORD: not word,
    }.get(code, True)
