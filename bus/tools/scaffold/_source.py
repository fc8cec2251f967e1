"""Python source that ``ruff format`` leaves as it is: literals and split lines."""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

LINE_LENGTH = 100
"""The project's line length (``[tool.ruff] line-length``)."""

_RUN = 16
"""A string ending in this many repeats of one character is written ``"…" + "x" * n``."""


def literal(value: Any, indent: int) -> str:
    """``value`` (JSON-compatible) as a Python expression whose first line starts at
    column ``indent``; dicts and lists with items are split one item a line, with a
    trailing comma, as ruff formats them."""
    if isinstance(value, dict) and value:
        items = [(f"{string(str(k))}: ", v) for k, v in value.items()]
        return "{\n" + _items(items, indent + 4) + " " * indent + "}"
    if isinstance(value, list) and value:
        return "[\n" + _items([("", v) for v in value], indent + 4) + " " * indent + "]"
    return _scalar(value)


def _items(items: list[tuple[str, Any]], indent: int) -> str:
    lines = []
    for prefix, value in items:
        line = f"{' ' * indent}{prefix}{literal(value, indent)},"
        if "\n" not in line and len(line) > LINE_LENGTH:
            line += "  # noqa: E501 - an example value nothing shortens"
        lines.append(line + "\n")
    return "".join(lines)


def _scalar(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} has no JSON form")
        return repr(value)
    if isinstance(value, str):
        return _string_expression(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    raise TypeError(f"not JSON-compatible: {value!r}")


def _string_expression(text: str) -> str:
    run = len(text) - len(text.rstrip(text[-1:]))
    if len(text) > 2 * _RUN and run >= _RUN:
        head = text[:-run]
        repeat = f"{string(text[-1])} * {run}"
        return f"{string(head)} + {repeat}" if head else repeat
    return string(text)


def string(text: str) -> str:
    """A string literal in ruff's preferred quotes (double, unless that needs escapes)."""
    if '"' in text and "'" not in text:
        return repr(text)  # single quotes, which ruff keeps here
    return json.dumps(text, ensure_ascii=False)


def fit(indent: int, head: str, items: Sequence[str], tail: str, *, hug: bool = False) -> str:
    """``head + items joined by ", " + tail`` on one line if it fits; else split as ruff
    would: the items on one line of their own (``hug``, as for a signature) if that
    fits, else one a line with a trailing comma."""
    pad = " " * indent
    one = f"{pad}{head}{', '.join(items)}{tail}"
    if len(one) <= LINE_LENGTH:
        return one
    inner = " " * (indent + 4)
    if hug:
        middle = f"{inner}{', '.join(items)}"
        if len(middle) <= LINE_LENGTH:
            return f"{pad}{head}\n{middle}\n{pad}{tail}"
    body = "".join(f"{inner}{item},\n" for item in items)
    return f"{pad}{head}\n{body}{pad}{tail}"


def from_import(module: str, names: Sequence[str]) -> str:
    """One import statement as ruff's isort writes it: one line, or one name a line."""
    ordered = sort_names(names)
    one = f"from {module} import {', '.join(ordered)}"
    if len(one) <= LINE_LENGTH:
        return one
    return f"from {module} import (\n" + "".join(f"    {n},\n" for n in ordered) + ")"


def sort_names(names: Iterable[str]) -> list[str]:
    """isort's ``order-by-type``: CONSTANTS, then Classes, then the rest, each a-z."""

    def key(name: str) -> tuple[int, str, str]:
        if len(name) > 1 and name.isupper():
            kind = 0
        elif name[:1].isupper():
            kind = 1
        else:
            kind = 2
        return kind, name.lower(), name

    return sorted(set(names), key=key)


def signature(indent: int, head: str, params: Sequence[str], returns: str) -> str:
    """A signature as ruff formats it: on one line if it fits; else a lone parameter on
    its own line with a trailing comma, several on one line of their own if that fits
    (else one a line), or a long return annotation in parentheses."""
    pad = " " * indent
    one = f"{pad}{head}{', '.join(params)}) -> {returns}:"
    if len(one) <= LINE_LENGTH:
        return one
    if not params:
        return f"{pad}{head}) -> (\n{pad}    {returns}\n{pad}):"
    tail = f") -> {returns}:"
    if len(params) == 1:
        return f"{pad}{head}\n{pad}    {params[0]},\n{pad}{tail}"
    return fit(indent, head, params, tail, hug=True)


def docstring(indent: int, summary: str, *body: str) -> str:
    """A docstring at ``indent``: one line if it fits, else a summary and a wrapped body."""
    width = min(LINE_LENGTH - indent, 88)
    if not body and indent + len(summary) + 6 <= LINE_LENGTH:
        return f'"""{summary}"""'
    pad = " " * indent
    lines = textwrap.wrap(summary, width - 3) or [""]
    for paragraph in body:
        lines.append("")
        for part in paragraph.split("\n"):
            lines.extend(textwrap.wrap(part, width) or [""])
    text = f"\n{pad}".join(line.rstrip() for line in lines).replace(f"\n{pad}\n", "\n\n")
    return f'"""{text}\n{pad}"""'
