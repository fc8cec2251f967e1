"""The base class every event contract derives from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from contracts import registry

RESERVED_DOMAIN = "chorus"
"""The topic root the bus keeps for its own traffic; no contract may use it."""

_SEGMENT = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class ContractInfo:
    """Where and under which name an event class travels.

    Attributes:
        name: ``<domain>.<event>``, for example ``documents.uploaded``.
        version: The schema version; a breaking change gets a new one.
    """

    name: str
    version: int

    @property
    def domain(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def type(self) -> str:
        """The CloudEvents ``type``: ``documents.uploaded.v1``."""
        return f"{self.name}.v{self.version}"

    @property
    def topic(self) -> str:
        """The MQTT topic: ``documents/uploaded/v1``."""
        return f"{self.name.replace('.', '/')}/v{self.version}"


class Event(BaseModel):
    """A fact that happened, published once and consumed by anyone interested.

    Subclasses name the event and its schema version as class variables; the
    class then registers itself, so it can be found by CloudEvents type and by
    topic::

        class DocumentUploaded(Event):
            event_name: ClassVar[str] = "documents.uploaded"
            event_version: ClassVar[int] = 1

            document_id: UUID
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_name: ClassVar[str]
    event_version: ClassVar[int] = 1
    contract: ClassVar[ContractInfo]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.__dict__.get("event_name")
        if name is None:
            return  # an abstract intermediate class
        cls.contract = _contract_info(cls.__qualname__, name, cls.event_version)
        registry.register(cls)


def _contract_info(qualname: str, name: str, version: int) -> ContractInfo:
    parts = name.split(".")
    if len(parts) != 2 or not all(_SEGMENT.match(p) for p in parts):
        msg = f"{qualname}.event_name must be '<domain>.<event>' in lower case, got {name!r}"
        raise ValueError(msg)
    if parts[0] == RESERVED_DOMAIN:
        msg = f"{qualname}: the domain {RESERVED_DOMAIN!r} is reserved for the bus itself"
        raise ValueError(msg)
    if not isinstance(version, int) or version < 1:
        msg = f"{qualname}.event_version must be a positive integer, got {version!r}"
        raise ValueError(msg)
    return ContractInfo(name=name, version=version)
