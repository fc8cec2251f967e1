"""The base classes of queries and their replies: questions one service answers for another.

A query is not a fact: it is never journaled, never deduplicated and has no
CloudEvents envelope. It travels as plain JSON on its own topic space,
``queries/<domain>/<query>/v<n>``, one level deeper than any event topic (so no
``+/+/+`` subscriber of events sees it), and is answered on the requester's
``Response Topic`` with its ``Correlation Data`` (MQTT 5 request/response).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from contracts.base import ContractInfo

QUERY_ROOT = "queries"
"""The first topic level of every query."""

_SEGMENT = re.compile(r"^[a-z][a-z0-9_-]*$")


class UnknownQueryError(LookupError):
    """No query is registered under that type or topic."""


class Reply(BaseModel):
    """An answer to one :class:`Query`: plain data, never published as a fact."""

    model_config = ConfigDict(extra="forbid", frozen=True)


R = TypeVar("R", bound=Reply)


@dataclass(frozen=True, slots=True)
class QueryInfo(ContractInfo):
    """Where and under which name a query travels: named and versioned as an event is
    (``accounts.quota_left``, ``accounts.quota_left.v1``), on a topic of its own."""

    @property
    def topic(self) -> str:
        """The MQTT topic: ``queries/accounts/quota_left/v1``."""
        return f"{QUERY_ROOT}/{self.name.replace('.', '/')}/v{self.version}"


class Query(BaseModel, Generic[R]):
    """A question with exactly one typed answer, asked of whichever service answers it.

    Subclasses name the query, its version and its reply type::

        class QuotaLeft(Query[QuotaLeftReply]):
            query_name: ClassVar[str] = "accounts.quota_left"
            query_version: ClassVar[int] = 1

            user_id: str
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    query_name: ClassVar[str]
    query_version: ClassVar[int] = 1
    query: ClassVar[QueryInfo]
    reply_type: ClassVar[type[Reply]]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.__dict__.get("query_name")
        if name is None:
            return  # Query[SomeReply] itself, or an abstract intermediate class
        args = cls.__pydantic_generic_metadata__["args"] or next(
            (b.__pydantic_generic_metadata__["args"] for b in cls.__mro__[1:]
             if issubclass(b, Query) and b.__pydantic_generic_metadata__["args"]),
            (),
        )  # fmt: skip
        if not args or not isinstance(args[0], type) or not issubclass(args[0], Reply):
            msg = f"{cls.__qualname__} must name its reply: class {cls.__name__}(Query[SomeReply])"
            raise TypeError(msg)
        cls.reply_type = args[0]
        cls.query = _query_info(cls.__qualname__, name, cls.query_version)
        _register(cls)


def _query_info(qualname: str, name: str, version: int) -> QueryInfo:
    parts = name.split(".")
    if len(parts) != 2 or not all(_SEGMENT.match(p) for p in parts):
        msg = f"{qualname}.query_name must be '<domain>.<query>' in lower case, got {name!r}"
        raise ValueError(msg)
    if not isinstance(version, int) or version < 1:
        msg = f"{qualname}.query_version must be a positive integer, got {version!r}"
        raise ValueError(msg)
    return QueryInfo(name=name, version=version)


_by_type: dict[str, type[Query[Any]]] = {}
_by_topic: dict[str, type[Query[Any]]] = {}


def _register(cls: type[Query[Any]]) -> None:
    info = cls.query
    existing = _by_type.get(info.type)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        msg = f"{info.type} is claimed by both {existing.__qualname__} and {cls.__qualname__}"
        raise ValueError(msg)
    _by_type[info.type] = _by_topic[info.topic] = cls


def query_by_name(type_or_topic: str) -> type[Query[Any]]:
    """The query class named by its type (``accounts.quota_left.v1``) or its topic."""
    found = (_by_topic if "/" in type_or_topic else _by_type).get(type_or_topic)
    if found is None:
        raise UnknownQueryError(f"unknown query {type_or_topic!r}")
    return found


def all_queries() -> list[type[Query[Any]]]:
    """Every registered query class, sorted by type."""
    return [_by_type[t] for t in sorted(_by_type)]
