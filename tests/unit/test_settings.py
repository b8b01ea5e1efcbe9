from __future__ import annotations

from pathlib import Path

import pytest

from services.core.secret import redact_url
from services.core.settings import SettingsError, load_settings


def load(**env: str):
    return load_settings(env, dotenv_path=None)


def test_defaults_bind_localhost_and_poll_every_250_ms() -> None:
    settings = load()
    assert settings.app_host == "127.0.0.1"
    assert settings.app_port == 8050
    assert settings.poll_interval_ms == 250
    assert (settings.ws_max_connections, settings.ws_send_timeout_s) == (64, 10.0)
    assert settings.redis_url is None
    assert settings.resolved_source(lambda: True) == "demo"


def test_auto_source_needs_the_package_and_a_login() -> None:
    settings = load(MT5_LOGIN="123456")
    assert settings.resolved_source(lambda: True) == "mt5"
    assert settings.resolved_source(lambda: False) == "demo"
    assert load(MT5_SOURCE="mt5linux").resolved_source(lambda: False) == "mt5linux"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MT5_LOGIN", "abc", "MT5_LOGIN: expected an integer"),
        ("POLL_INTERVAL_MS", "-1", "POLL_INTERVAL_MS: expected an integer from 10"),
        ("REDIS_URL", "foo://x", "REDIS_URL: expected redis://"),
        ("MT5_SOURCE", "metatrader", "MT5_SOURCE: expected one of auto|mt5|mt5linux|demo"),
        ("APP_DEBUG", "maybe", "APP_DEBUG: expected true or false"),
        ("APP_PORT", "70000", "APP_PORT: expected an integer from 1 to 65535"),
        ("HEARTBEAT_S", "0", "HEARTBEAT_S: expected a number"),
        ("WS_MAX_CONNECTIONS", "0", "WS_MAX_CONNECTIONS: expected an integer from 1 to 10000"),
        ("WS_SEND_TIMEOUT_S", "never", "WS_SEND_TIMEOUT_S: expected a number from 0.1 to 600"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: expected one of DEBUG"),
        ("CORS_ORIGINS", "localhost:3000", "CORS_ORIGINS: expected comma-separated origins"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(**{variable: value})
    assert str(caught.value).startswith(expected)
    assert caught.value.variable == variable


def test_seed_redis_variables_build_a_url_and_hide_the_password() -> None:
    settings = load(REDIS_HOST="cache", REDIS_PORT="6380", REDIS_DB="2", REDIS_PASSWORD="s3cret")
    assert settings.redis_url == "redis://:s3cret@cache:6380/2"
    assert settings.redis_configured
    assert "s3cret" not in settings.redis_url_redacted
    assert "s3cret" not in str(settings.public())


def test_bad_redis_url_error_does_not_echo_its_password() -> None:
    with pytest.raises(SettingsError) as caught:
        load(REDIS_URL="foo://user:hunter2@host")
    assert "hunter2" not in str(caught.value)


def test_embedded_is_forced_by_name() -> None:
    settings = load(REDIS_URL="embedded")
    assert settings.redis_embedded_forced and not settings.redis_configured


def test_password_never_shows_in_repr_or_public_view() -> None:
    settings = load(MT5_LOGIN="1", MT5_PASSWORD="TopSecret!9")
    assert "TopSecret!9" not in repr(settings)
    assert "TopSecret!9" not in str(settings.public())
    assert settings.mt5_password.reveal() == "TopSecret!9"


def test_environment_overrides_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("APP_PORT=9001\nPOLL_INTERVAL_MS=500\n", encoding="utf-8")
    settings = load_settings({"APP_PORT": "9002"}, dotenv_path=dotenv)
    assert settings.app_port == 9002
    assert settings.poll_interval_ms == 500


def test_settings_are_frozen() -> None:
    settings = load()
    with pytest.raises(AttributeError):
        settings.app_port = 1  # type: ignore[misc]


def test_the_seeds_api_host_and_port_still_work() -> None:
    settings = load(API_HOST="0.0.0.0", API_PORT="8000")
    assert (settings.app_host, settings.app_port) == ("0.0.0.0", 8000)
    assert load(API_PORT="8000", APP_PORT="9000").app_port == 9000


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("postgresql://mt5:p%40ss@db:5432/archive", "postgresql+psycopg://mt5:p%40ss@db:5432/archive"),
        ("postgres://mt5@db/archive", "postgresql+psycopg://mt5@db/archive"),
        ("postgresql+psycopg://db/archive?sslmode=require", "postgresql+psycopg://db/archive?sslmode=require"),
        ("postgresql:///archive?host=/run/postgresql", "postgresql+psycopg:///archive?host=%2Frun%2Fpostgresql"),
    ],
)
def test_archive_database_url_names_postgresql_through_psycopg_3(value: str, normalised: str) -> None:
    settings = load(DATABASE_URL=value)
    assert settings.database_url.reveal() == normalised
    assert "p%40ss" not in repr(settings) and "p%40ss" not in str(settings.public())
    assert "p%40ss" not in settings.database_url_redacted


def test_archive_database_url_unset_keeps_the_archive_in_data_dir(tmp_path: Path) -> None:
    assert not load().database_url and not load(DATABASE_URL="  ").database_url
    file = tmp_path / "sub" / "a.sqlite"
    assert load(DATABASE_URL=f"sqlite:///{file}").database_url.reveal() == f"sqlite:///{file}"


@pytest.mark.parametrize(
    "value",
    [
        "mysql://mt5:hunter2@db/archive",
        "postgresql+psycopg2://mt5:hunter2@db/archive",
        "postgresql://mt5:hunter2@db:99999/archive",
        "postgresql://mt5:hunter2@db:port/archive",
        "postgresql://mt5:hunter2@/archive",
        "hunter2",
        "sqlite://",
        "sqlite:///:memory:",
    ],
)
def test_archive_database_url_refuses_other_databases_without_echoing_the_password(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(DATABASE_URL=value)
    assert caught.value.variable == "DATABASE_URL" and str(caught.value).startswith("DATABASE_URL: expected")
    assert "hunter2" not in str(caught.value)


def test_archive_database_url_to_a_sqlite_file_must_be_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for value in (f"sqlite:///{blocker}/archive.sqlite", f"sqlite:///{tmp_path}"):
        with pytest.raises(SettingsError, match="DATABASE_URL"):
            load(DATABASE_URL=value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@cache:6379/0", "redis://:********@cache:6379/0"),
        ("postgresql+psycopg://mt5:p%40w@[::1]:5432/db", "postgresql+psycopg://mt5:********@[::1]:5432/db"),
        (
            "postgresql://db/archive?sslmode=require&password=pw",
            "postgresql://db/archive?sslmode=require&password=********",
        ),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
        ("postgresql://mt5@db/archive", "postgresql://mt5@db/archive"),
    ],
)
def test_redact_url_masks_the_password_in_the_authority_and_the_query(url: str, shown: str) -> None:
    assert redact_url(url) == shown
