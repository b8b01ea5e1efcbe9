from __future__ import annotations

from pathlib import Path

import pytest

from services.settings import SettingsError, load_settings


def load(**env: str):
    return load_settings(env, dotenv_path=None)


def test_defaults_bind_localhost_and_poll_every_250_ms() -> None:
    settings = load()
    assert settings.app_host == "127.0.0.1"
    assert settings.app_port == 8050
    assert settings.poll_interval_ms == 250
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
