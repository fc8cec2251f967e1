"""Central configuration without a broker: key=value parsing, merging over the service's
own settings, validation, what applies live, and the command line's refusals."""

from __future__ import annotations

import logging

import pytest
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from typer.testing import Result

from bus import RetryPolicy, Service
from bus.config import RETRY_KEYS, ConfigError, ConfigWatcher, Edit, parse_assignments
from bus.config.model import decode, encode, parse_value
from bus.testing import in_memory
from contracts import DocumentUploaded
from services.accounts import AccountsSettings
from services.accounts import create_service as create_accounts
from services.notifier import Mailer, NotifierSettings
from services.notifier import create_service as create_notifier
from tests.helpers import bus, uploaded


class WidgetSettings(BaseSettings):
    """A service's own settings, as a test needs them."""

    model_config = SettingsConfigDict(env_prefix="WIDGET_", extra="ignore")

    greeting: str = "hello"
    batch_size: int = Field(default=10, ge=1)
    pool_size: int = Field(default=2, ge=1)
    token: SecretStr | None = None


LIVE = {"greeting", "batch_size"}

service = Service("widget", config=WidgetSettings(), live=LIVE)
"""For ``bus config`` (``tests.unit.test_config:service``)."""


def widget(**values: object) -> tuple[Service, WidgetSettings]:
    config = WidgetSettings.model_validate(values)
    return Service("widget", config=config, live=LIVE), config


# -- key=value and the message ------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("3", 3),
        ("0.5", 0.5),
        ("true", True),
        ("null", None),
        ('["en", "de"]', ["en", "de"]),
        ('{"a": 1}', {"a": 1}),
        ('"3"', "3"),
        ("Ops <ops@example.com>", "Ops <ops@example.com>"),
        ("", ""),
        ("NaN", "NaN"),
        ("mail.example.com", "mail.example.com"),
    ],
)
def test_a_value_is_json_when_it_parses_and_text_otherwise(raw: str, value: object) -> None:
    assert parse_value(raw) == value


def test_assignments_split_at_the_first_equals_sign_and_the_last_one_wins() -> None:
    assert parse_assignments(["retry_attempts=3", "sender=a=b", "retry_attempts=4", "x="]) == {
        "retry_attempts": 4,
        "sender": "a=b",
        "x": "",
    }


@pytest.mark.parametrize("item", ["retry_attempts", "=3", " =3"])
def test_an_assignment_without_a_key_is_refused(item: str) -> None:
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_assignments([item])


def test_the_message_is_a_json_object_and_none_is_an_empty_one() -> None:
    assert encode({}) == b""
    assert decode(b"") == {}
    assert decode(encode({"b": [1], "a": "x"})) == {"a": "x", "b": [1]}
    with pytest.raises(ConfigError, match="holds no JSON"):
        decode(b"{nope")
    with pytest.raises(ConfigError, match="not an object"):
        decode(b"[1, 2]")


def test_an_edit_lists_what_it_set_changed_or_removed() -> None:
    edit = Edit(before={"a": 1, "b": 2, "c": 3}, after={"a": 1, "b": 5, "d": 4})
    assert edit.changed == ["b", "c", "d"]


# -- merging and validating -----------------------------------------------------


def test_overrides_apply_over_the_environment_and_the_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WIDGET_GREETING", "hi")
    monkeypatch.setenv("WIDGET_BATCH_SIZE", "20")
    config = WidgetSettings()
    svc = Service("widget", config=config, live=LIVE)

    resolved = svc.live_config.resolve({"batch_size": 3})

    assert isinstance(resolved.settings, WidgetSettings)
    assert (resolved.settings.greeting, resolved.settings.batch_size) == ("hi", 3)
    assert resolved.settings.pool_size == 2
    assert config.batch_size == 20, "checking applies nothing"
    assert svc.live_config.baseline()["batch_size"] == 20


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"batch_size": 0}, "batch_size: Input should be greater than or equal to 1 (got 0)"),
        ({"batch_size": "many"}, "batch_size: Input should be a valid integer"),
        ({"retry_attempts": 0}, "retry_attempts: Input should be greater than or equal to 1"),
        ({"retry_initial_delay": 30}, "retry_max_delay must be at least retry_initial_delay"),
        ({"token": "s3cret"}, "token: secrets are set in the environment, not on the bus"),
        ({"colour": "red"}, "widget has no setting colour (it has: batch_size, greeting"),
    ],
)
def test_what_cannot_apply_is_refused_naming_the_key(
    overrides: dict[str, object], problem: str
) -> None:
    svc, _ = widget()
    with pytest.raises(ConfigError) as refused:
        svc.live_config.resolve(overrides)
    assert problem in str(refused.value)


def test_a_running_replica_ignores_keys_only_a_newer_version_knows() -> None:
    svc, _ = widget()
    resolved = svc.live_config.resolve({"colour": "red", "batch_size": 4}, strict=False)
    assert resolved.ignored == ("colour",)
    assert isinstance(resolved.settings, WidgetSettings)
    assert resolved.settings.batch_size == 4


def test_every_service_understands_the_retry_keys() -> None:
    policy = RetryPolicy(attempts=5, initial_delay=0.1, max_delay=1.0, retry_on=(OSError,))
    svc = Service("plain", retry=policy)
    assert svc.live_config.keys == sorted(RETRY_KEYS)
    assert all(svc.live_config.is_live(key) for key in RETRY_KEYS)

    resolved = svc.live_config.resolve({"retry_attempts": 2, "retry_max_delay": 3})

    assert resolved.settings is None
    assert (resolved.retry.attempts, resolved.retry.max_delay) == (2, 3.0)
    assert resolved.retry.retry_on == (OSError,), "what is not configurable is kept"


def test_live_must_name_fields_of_a_config_that_can_change() -> None:
    with pytest.raises(ValueError, match="live= names no field of its config: colour"):
        Service("widget", config=WidgetSettings(), live={"colour"})

    class Frozen(BaseSettings):
        model_config = SettingsConfigDict(frozen=True)
        size: int = 1

    with pytest.raises(ValueError, match="frozen"):
        Service("frozen", config=Frozen(), live={"size"})


# -- applying -------------------------------------------------------------------


def test_live_fields_change_in_place_and_the_others_wait_for_a_restart() -> None:
    svc, config = widget()
    resolved = svc.live_config.resolve({"batch_size": 3, "pool_size": 4, "retry_attempts": 2})

    outcome = svc.live_config.apply(resolved)

    assert svc.config is config
    assert (config.batch_size, config.pool_size, svc.retry.attempts) == (3, 2, 2)
    assert [str(c) for c in outcome.applied] == [
        "batch_size=3 (was 10)",
        "retry_attempts=2 (was 5)",
    ]
    assert [(c.key, c.new) for c in outcome.pending] == [("pool_size", 4)]

    at_start = svc.live_config.apply(resolved, everything=True)
    assert config.pool_size == 4
    assert [c.key for c in at_start.applied] == ["pool_size"]


def test_the_watcher_logs_what_it_applied_what_waits_and_what_it_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bus.config")
    svc, config = widget()
    watcher = ConfigWatcher(svc)

    def logged(level: int) -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno == level]

    watcher.receive(b'{"batch_size": 3, "greeting": "hi"}')
    assert logged(logging.INFO) == [
        'widget config: applied greeting="hi" (was "hello"), batch_size=3 (was 10)'
    ]

    for _ in range(2):  # the broker sends the retained message again after a reconnection
        watcher.receive(b'{"batch_size": 3, "greeting": "hi", "pool_size": 4}')
    assert logged(logging.WARNING) == [
        "widget config: pool_size=4 (still 2) needs a restart; not applied"
    ]
    assert config.pool_size == 2

    watcher.receive(b'{"batch_size": 0, "greeting": "bye"}')
    watcher.receive(b"not json")
    [invalid, garbage] = logged(logging.ERROR)
    assert "batch_size: Input should be greater than or equal to 1 (got 0)" in invalid
    assert "the config in force stays" in invalid
    assert "holds no JSON" in garbage
    assert (config.batch_size, config.greeting) == (3, "hi")

    watcher.receive(b"")  # the message deleted: the service's own settings again
    assert (config.batch_size, config.greeting) == (10, "hello")


async def test_a_new_retry_policy_applies_from_the_next_delivery() -> None:
    svc = Service("flaky", retry=RetryPolicy(attempts=5, initial_delay=0, max_delay=0))
    tries: list[str] = []

    @svc.on(DocumentUploaded)
    async def handle(event: DocumentUploaded) -> None:
        tries.append(event.filename)
        raise ConnectionError("down")

    async with in_memory(svc) as bus:
        ConfigWatcher(svc).take({"retry_attempts": 2})
        pipeline = svc.replica.pipeline
        assert pipeline is not None
        assert pipeline.retry().attempts == 2
        await bus.publish(uploaded(1))

    assert tries == ["file-1.txt", "file-1.txt"]
    [letter] = bus.dead_letters.letters.values()
    assert letter.attempts == 2


# -- the reference services --------------------------------------------------------


async def test_the_notifier_mails_with_its_settings_in_force() -> None:
    config = NotifierSettings()
    notifier = create_notifier("notifier-unit", config=config)
    mailer = Mailer(config)

    ConfigWatcher(notifier).take({"sender": "Ops <ops@example.com>", "retry_attempts": 2})

    mail = mailer.compose(recipient="a@example.com", subject="s", body="b", event_id="e")
    assert mail["From"] == "Ops <ops@example.com>"
    assert (config.retry_attempts, notifier.retry.attempts) == (2, 2)
    assert (
        notifier.retry.give_up_on
        == create_notifier("n", config=NotifierSettings()).retry.give_up_on
    )


def test_accounts_changes_default_quotas_live_and_its_pool_on_a_restart() -> None:
    accounts = create_accounts("accounts-unit", config=AccountsSettings())
    assert accounts.live_config.is_live("default_max_documents")
    assert accounts.live_config.is_live("default_max_bytes")
    assert not accounts.live_config.is_live("pool_size")


# -- the command line --------------------------------------------------------------


def bus_config(*args: str) -> Result:
    # Nothing listens there: what must be refused is refused before any connection.
    return bus("config", *args, env={"BUS_MQTT_URL": "mqtt://127.0.0.1:9"})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["batch_size=0"], "invalid config for widget: batch_size: Input should be greater"),
        (["colour=red"], "widget has no setting colour"),
        (["token=s3cret"], "token: secrets are set in the environment"),
        (["batch_size"], "expected key=value, got 'batch_size'"),
    ],
)
def test_set_refuses_what_cannot_apply_with_exit_2(args: list[str], message: str) -> None:
    result = bus_config("set", "tests.unit.test_config:service", *args)
    assert result.exit_code == 2, result.stderr
    assert message in " ".join(result.stderr.split())
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unknown_service_is_refused_with_exit_2() -> None:
    result = bus_config("set", "no_such_service", "a=1")
    assert result.exit_code == 2
    assert "no service named 'no_such_service'" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["get", "widget"],
        ["set", "tests.unit.test_config:service", "batch_size=3"],
        ["unset", "widget", "--all"],
    ],
)
def test_an_unreachable_broker_is_one_line_and_exit_1(args: list[str]) -> None:
    result = bus_config(*args)
    assert result.exit_code == 1, result.stderr
    assert "cannot reach a server of the stack" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
