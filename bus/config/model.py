"""A service's settings and which of them apply while it runs. No I/O.

The settings in force are the service's settings object as the process built it
(defaults, then the environment, then constructor arguments: the *baseline*),
overridden by the retained JSON object on ``chorus/config/<service>``. Every service
also understands :data:`RETRY_KEYS`, which replace those of its default retry policy.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretBytes,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings

from bus.retry import RetryPolicy

Overrides = dict[str, Any]
"""Setting name → value, as the retained config message holds them."""

RETRY_KEYS: Final = ("retry_attempts", "retry_initial_delay", "retry_max_delay")
"""Keys every service understands, always live: they replace the tries, first delay and
longest delay of its default retry policy (``Service.retry``, the policy of handlers
that declare none). A service's settings may have fields of the same names (the
notifier's do): they are then updated too."""

_RETRY_FIELDS: Final = dict(
    zip(RETRY_KEYS, ("attempts", "initial_delay", "max_delay"), strict=True)
)


class ConfigError(ValueError):
    """Overrides that cannot be applied; the message names each key and why."""


class Configurable(Protocol):
    """What :class:`LiveConfig` reads and updates (a :class:`bus.Service`)."""

    name: str
    config: BaseSettings | None
    retry: RetryPolicy


class _RetryKeys(BaseModel):
    """Validates :data:`RETRY_KEYS` the way :class:`RetryPolicy` needs them."""

    model_config = ConfigDict(extra="forbid")

    retry_attempts: int = Field(ge=1)
    retry_initial_delay: float = Field(ge=0)
    retry_max_delay: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> _RetryKeys:
        if self.retry_max_delay < self.retry_initial_delay:
            raise ValueError("retry_max_delay must be at least retry_initial_delay")
        return self


# -- the command line's side: key=value, merging, the message ------------


def parse_value(raw: str) -> Any:
    """``raw`` read as JSON when it is JSON (``3``, ``true``, ``null``, ``["en"]``,
    ``"quoted"``), else the string itself (``Ops <ops@example.com>``)."""
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except ValueError:  # json.JSONDecodeError is one
        return raw


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity stay strings


def parse_assignments(items: Iterable[str]) -> Overrides:
    """``["retry_attempts=3", "sender=Ops <ops@example.com>"]`` →
    ``{"retry_attempts": 3, "sender": "Ops <ops@example.com>"}`` (see :func:`parse_value`).

    A key given twice keeps its last value.

    Raises:
        ConfigError: an item without ``=``, or with nothing before it.
    """
    parsed: Overrides = {}
    for item in items:
        key, equals, raw = item.partition("=")
        key = key.strip()
        if not equals or not key:
            raise ConfigError(f"expected key=value, got {item!r}")
        parsed[key] = parse_value(raw)
    return parsed


def decode(payload: bytes, *, topic: str = "the config topic") -> Overrides:
    """The overrides in a retained config message; an empty one (none) is ``{}``.

    Raises:
        ConfigError: the payload is not a JSON object.
    """
    if not payload:
        return {}
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{topic} holds no JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{topic} holds JSON that is not an object of settings: {value!r}")
    return value


def encode(overrides: Mapping[str, Any]) -> bytes:
    """The retained message for ``overrides``; empty (which deletes it) when there are none."""
    return json.dumps(dict(overrides), sort_keys=True).encode() if overrides else b""


def show(value: Any) -> str:
    """A value as logs and the command line print it: JSON, secrets masked."""
    if isinstance(value, SecretStr | SecretBytes):
        return '"**********"'
    return json.dumps(value, default=str)


# -- the service's side: validating and applying -----------------------------


@dataclass(frozen=True, slots=True)
class Resolved:
    """Overrides checked against a service: what would be in force with them.

    Attributes:
        settings: The service's settings with the overrides (``None``: it has none).
        retry: Its default retry policy with the overrides.
        ignored: Keys the service does not know (only when not ``strict``).
    """

    settings: BaseSettings | None
    retry: RetryPolicy
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SettingChange:
    """One setting whose value differs from the one in force."""

    key: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.key}={show(self.new)} (was {show(self.old)})"


@dataclass(frozen=True, slots=True)
class Settled:
    """What :meth:`LiveConfig.apply` did.

    Attributes:
        applied: Changes now in force.
        pending: Changes to settings that apply only at start: not applied.
    """

    applied: tuple[SettingChange, ...] = ()
    pending: tuple[SettingChange, ...] = ()


class LiveConfig:
    """The settings of one service, and which of them change while it runs.

    Live fields are set in place on the service's settings object (``service.config``),
    so code that reads that object when it needs a value sees each change from then on;
    the :data:`RETRY_KEYS` replace ``service.retry``. Other fields change only at start.

    Args:
        owner: The service; its ``config`` and ``retry`` as built are the baseline.
        live: Names of fields of ``owner.config`` that may change while it runs.

    Raises:
        ValueError: ``live`` names a field the settings do not have, or the settings
            model is frozen (live fields are set in place).
    """

    def __init__(self, owner: Configurable, live: Collection[str] = ()) -> None:
        fields = self._fields(owner.config)
        unknown = sorted(set(live) - set(fields))
        if unknown:
            msg = f"{owner.name}: live= names no field of its config: {', '.join(unknown)}"
            raise ValueError(msg)
        if live and owner.config is not None and owner.config.model_config.get("frozen"):
            msg = f"{owner.name}: a frozen config cannot change while the service runs"
            raise ValueError(msg)
        self.owner = owner
        self.live = frozenset(live) | frozenset(RETRY_KEYS)
        self._baseline: tuple[Overrides, Overrides] | None = None

    @staticmethod
    def _fields(settings: BaseSettings | None) -> list[str]:
        return list(type(settings).model_fields) if settings is not None else []

    @property
    def keys(self) -> list[str]:
        """Every key the service's config message may hold."""
        return sorted({*self._fields(self.owner.config), *RETRY_KEYS})

    def is_live(self, key: str) -> bool:
        """Whether a change to ``key`` applies while the service runs."""
        return key in self.live

    def baseline(self) -> Overrides:
        """The values the service has without any override (taken at the first use)."""
        settings, retry = self._baselines()
        return {**settings, **retry}

    def _baselines(self) -> tuple[Overrides, Overrides]:
        if self._baseline is None:
            config, retry = self.owner.config, self.owner.retry
            settings = {name: getattr(config, name) for name in self._fields(config)}
            self._baseline = (
                settings,
                {key: getattr(retry, attr) for key, attr in _RETRY_FIELDS.items()},
            )
        return self._baseline

    def resolve(self, overrides: Mapping[str, Any], *, strict: bool = True) -> Resolved:
        """Validate ``{**baseline, **overrides}`` as the service's settings.

        Args:
            overrides: The config message's object.
            strict: Refuse keys the service does not know; else ignore them (a
                running replica of an older version meets keys a newer one added).

        Raises:
            ConfigError: naming each key that is unknown (if ``strict``), a secret
                (secrets stay in the environment: retained messages are readable by
                every client of the broker) or invalid, and why.
        """
        if not isinstance(overrides, Mapping):
            raise ConfigError("the config must be a JSON object of setting: value")
        known = set(self.keys)
        unknown = tuple(sorted(key for key in overrides if key not in known))
        if unknown and strict:
            raise ConfigError(
                f"{self.owner.name} has no setting {', '.join(unknown)} "
                f"(it has: {', '.join(self.keys)})"
            )
        secrets = sorted(key for key in overrides if key in known and self._is_secret(key))
        if secrets:
            raise ConfigError(
                f"{', '.join(secrets)}: secrets are set in the environment, not on the bus "
                "(retained messages are readable by every client of the broker)"
            )
        settings_base, retry_base = self._baselines()
        problems: list[str] = []
        settings: BaseSettings | None = None
        config = self.owner.config
        if config is not None:
            mine = {key: value for key, value in overrides.items() if key in settings_base}
            try:
                settings = type(config).model_validate({**settings_base, **mine})
            except ValidationError as exc:
                problems += _problems(exc)
        retry_overrides = {key: overrides[key] for key in RETRY_KEYS if key in overrides}
        try:
            keys = _RetryKeys.model_validate({**retry_base, **retry_overrides})
        except ValidationError as exc:
            problems += _problems(exc)
        if problems:
            raise ConfigError("; ".join(dict.fromkeys(problems)))
        retry = replace(
            self.owner.retry,
            attempts=keys.retry_attempts,
            initial_delay=keys.retry_initial_delay,
            max_delay=keys.retry_max_delay,
        )
        return Resolved(settings, retry, unknown)

    def apply(self, resolved: Resolved, *, everything: bool = False) -> Settled:
        """Put what changed in force: live fields, or ``everything`` (at start).

        All changes are made at once, without yielding to other tasks, so a handler
        never sees half of them.
        """
        owner, config = self.owner, self.owner.config
        changes: dict[str, SettingChange] = {}
        if config is not None and resolved.settings is not None:
            for name in self._fields(config):
                old, new = getattr(config, name), getattr(resolved.settings, name)
                if old != new:
                    changes[name] = SettingChange(name, old, new)
        for key, attr in _RETRY_FIELDS.items():
            old, new = getattr(owner.retry, attr), getattr(resolved.retry, attr)
            if old != new:
                changes[key] = SettingChange(key, old, new)  # what the bus retries with counts
        applied = tuple(c for c in changes.values() if everything or self.is_live(c.key))
        pending = tuple(c for c in changes.values() if not (everything or self.is_live(c.key)))
        for change in applied:
            if config is not None and change.key in type(config).model_fields:
                setattr(config, change.key, getattr(resolved.settings, change.key))
        if any(change.key in _RETRY_FIELDS for change in applied):
            owner.retry = resolved.retry
        return Settled(applied, pending)

    def _is_secret(self, key: str) -> bool:
        config = self.owner.config
        if config is None or key not in type(config).model_fields:
            return False
        return _mentions_secret(type(config).model_fields[key].annotation)


def _mentions_secret(annotation: Any) -> bool:
    if annotation in (SecretStr, SecretBytes):
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return any(_mentions_secret(arg) for arg in typing.get_args(annotation))
    return False


def _problems(exc: ValidationError) -> list[str]:
    """One line per error: ``retry_attempts: Input should be … (got 0)``."""
    lines = []
    for error in exc.errors():
        where = ".".join(map(str, error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message} (got {error['input']!r})" if where else message)
    return lines
