"""BusSettings adds the local stack's generated logins and CA to its defaults, and only
to its defaults."""

import json
from pathlib import Path

import pytest

from bus import BusSettings


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, password in (("redis", "r-secret"), ("postgres", "p/secret"), ("mongo", "m-secret")):
        login = {"username": "chorus", "password": password}
        (tmp_path / f"{name}.json").write_text(json.dumps(login))
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("BUS_CREDENTIALS_DIR", str(tmp_path))
    for variable in ("REDIS_URL", "POSTGRES_URL", "MONGO_URL", "MQTT_CA_FILE"):
        monkeypatch.delenv(f"BUS_{variable}", raising=False)
    return tmp_path


def test_the_defaults_log_in_with_the_generated_passwords(folder: Path) -> None:
    settings = BusSettings()
    assert settings.redis_url == "redis://chorus:r-secret@localhost:6379/0"
    assert settings.postgres_url == "postgresql+asyncpg://chorus:p%2Fsecret@localhost:5432/chorus"
    assert settings.mongo_url == "mongodb://chorus:m-secret@localhost:27017/chorus?authSource=admin"
    assert settings.mqtt_ca_file == folder / "tls" / "ca.crt"


def test_urls_given_explicitly_are_used_as_they_are(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUS_REDIS_URL", "redis://cache.example:6380/2")
    settings = BusSettings(postgres_url="postgresql+asyncpg://app:theirs@db.example/app")
    assert settings.redis_url == "redis://cache.example:6380/2"
    assert settings.postgres_url == "postgresql+asyncpg://app:theirs@db.example/app"
    assert settings.mongo_url.startswith("mongodb://chorus:m-secret@")
    assert BusSettings(mqtt_ca_file=None).mqtt_ca_file is None


def test_without_generated_logins_the_defaults_have_none(tmp_path: Path) -> None:
    settings = BusSettings(credentials_dir=tmp_path)
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.mongo_url == "mongodb://localhost:27017/chorus"
    assert settings.mqtt_ca_file is None


def test_repr_shows_no_password(folder: Path) -> None:
    shown = repr(BusSettings())
    assert "secret" not in shown
    assert "redis://chorus:***@localhost:6379/0" in shown
