"""A service's queries: what it answers, what it asks, and the parts that run them.

:class:`bus.Service` keeps one :class:`Queries` and hands ``responds``, ``request``,
``answers`` and ``asks`` to it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from bus._internal.broker import raw_client
from bus.errors import BusNotStartedError
from bus.requests.requester import Requester
from bus.requests.responder import Answer, AnswerFunc, Responder
from contracts.query import Query, Reply

if TYPE_CHECKING:
    from bus.service import Service

log = logging.getLogger("bus.requests")

A = TypeVar("A", bound=AnswerFunc)
R = TypeVar("R", bound=Reply)


class Queries:
    """The queries of ``service``: those it answers (``@service.responds``) and those it
    may ask (``Service(asks=[...])``), from which the broker's rules are derived."""

    def __init__(self, service: Service, asks: Sequence[type[Query[Any]]] = ()) -> None:
        self.service = service
        self.asks = list(asks)
        self.answers: list[Answer] = []
        self._responder: Responder | None = None
        self._requester: Requester | None = None
        self._undeclared: set[str] = set()

    def responds(self, query_type: type[Query[Any]]) -> Callable[[A], A]:
        """See :meth:`bus.Service.responds`."""

        def register(func: A) -> A:
            if any(a.query_type is query_type for a in self.answers):
                raise ValueError(f"{self.service.name} already answers {query_type.query.type}")
            self.answers.append(Answer.build(func, query_type))
            if len(self.answers) == 1:
                self.service.on_started(self._start_answering)
                self.service.on_stopping(self._stop_answering)
            return func

        return register

    async def request(self, query: Query[R], timeout: float) -> R:  # noqa: ASYNC109 - it travels
        """See :meth:`bus.Service.request`."""
        replica = self.service.replica
        if replica.broker is None:
            raise BusNotStartedError(f"{self.service.name} is not connected")
        name = type(query).query.type
        if type(query) not in self.asks and name not in self._undeclared:
            self._undeclared.add(name)
            log.warning("%s asks %s, which it does not declare in asks= (the broker's rules "
                        "will refuse it)", self.service.name, name)  # fmt: skip
        if self._requester is None:
            self._requester = Requester(self.service.settings, replica.client_id, self.service.name)
            self.service.on_stopping(self._stop_asking)
        return await self._requester.request(raw_client(replica.broker), query, timeout=timeout)

    async def _start_answering(self) -> None:
        replica = self.service.replica
        if not replica.consume or replica.broker is None:
            return  # a worker-only process does not answer
        self._responder = Responder(
            self.service.name, self.answers, self.service.settings, raw_client(replica.broker)
        )
        await self._responder.start()

    async def _stop_answering(self) -> None:
        if self._responder is not None:
            await self._responder.stop()
            self._responder = None

    async def _stop_asking(self) -> None:
        if self._requester is not None:
            await self._requester.stop()
