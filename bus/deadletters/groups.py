"""Dead letters grouped by what went wrong, so that a hundred letters with one cause read as one."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

SHAPE_LIMIT = 200
"""Characters of a normalised message kept: enough to tell causes apart."""

_UUID = r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
_TIME = r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?"
_VARIABLE_PARTS = (
    (re.compile(_UUID, re.I), "<uuid>"),
    (re.compile(_TIME, re.I), "<time>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.I), "<id>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (re.compile(r"(?<![A-Za-z_])\d+(?:\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
)  # fmt: skip
"""What varies between letters of one cause, in the order it is replaced."""


class Groupable(Protocol):
    """What grouping reads of a dead letter (a :class:`DeadLetter` has it all)."""

    @property
    def id(self) -> str: ...
    @property
    def service(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def error_type(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def dead_at(self) -> datetime: ...


@dataclass
class LetterGroup:
    """Dead letters of one service, kind and error type whose reasons have one shape.

    Attributes:
        key: A short stable name for the group (``--group KEY`` in ``bus dlq``); the same
            letters give the same key on every run and machine.
        shape: The reason with numbers, ids, uuids and times replaced (:func:`message_shape`).
        count: Letters in the group.
        oldest: When the oldest of them last failed.
        newest: When the newest of them last failed.
        example_id: The newest letter's id.
        example_reason: The newest letter's reason, as it was.
    """

    key: str
    service: str
    kind: str
    error_type: str
    shape: str
    count: int
    oldest: datetime
    newest: datetime
    example_id: str
    example_reason: str


def message_shape(text: str) -> str:
    """``text`` with what varies between letters of one cause replaced: uuids (``<uuid>``),
    times (``<time>``), hexadecimal ids of 8 or more characters (``<id>``), ``0x`` numbers
    (``<hex>``) and other numbers (``<n>``); runs of whitespace become one space, and the
    result is cut to :data:`SHAPE_LIMIT` characters.

    >>> message_shape("no upload of document 279f28c8-d26e-47e2-9b57-f844fa6cfd00 after 3 tries")
    'no upload of document <uuid> after <n> tries'
    """
    for pattern, replacement in _VARIABLE_PARTS:
        text = pattern.sub(replacement, text)
    return text.strip()[:SHAPE_LIMIT]


def group_key(letter: Groupable) -> str:
    """The key of the group ``letter`` belongs to (:attr:`LetterGroup.key`)."""
    return _key(letter.service, letter.kind, letter.error_type, message_shape(letter.reason))


def group_letters(letters: Iterable[Groupable]) -> list[LetterGroup]:
    """Group dead letters by service, kind, error type and the shape of their reason.

    Plain and synchronous, for any caller (``bus dlq groups``, a web console): give it the
    letters, from the store or from memory, and it reads nothing else.

    Returns:
        The groups, largest first; among equal counts, the most recently failing first.
    """
    groups: dict[str, LetterGroup] = {}
    for letter in letters:
        shape = message_shape(letter.reason)
        key = _key(letter.service, letter.kind, letter.error_type, shape)
        group = groups.get(key)
        if group is None:
            groups[key] = LetterGroup(
                key=key, service=letter.service, kind=letter.kind,
                error_type=letter.error_type, shape=shape, count=1,
                oldest=letter.dead_at, newest=letter.dead_at,
                example_id=letter.id, example_reason=letter.reason,
            )  # fmt: skip
            continue
        group.count += 1
        group.oldest = min(group.oldest, letter.dead_at)
        if letter.dead_at > group.newest:
            group.newest = letter.dead_at
            group.example_id, group.example_reason = letter.id, letter.reason
    return sorted(groups.values(), key=lambda g: (-g.count, -g.newest.timestamp()))


def _key(service: str, kind: str, error_type: str, shape: str) -> str:
    text = "\0".join((service, kind, error_type, shape))
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()
