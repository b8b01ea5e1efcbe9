"""Settings that slipped through (issue 14): a webhook URL urlsplit cannot read, a Redis URL whose database,
port or options redis-py would read otherwise or choke on later, the same user twice. Each stops the app with
exit status 2 and a message naming the variable, never a traceback, and never shows a password."""

from __future__ import annotations

import os
from typing import Any

import pytest

import app as app_module
from services.core.settings import SettingsError, load_settings


def load(**env: str) -> Any:
    return load_settings(env, dotenv_path=None)


def never_started(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("the settings were taken")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("ALERT_WEBHOOK_URL", "http://[::1/x", "ALERT_WEBHOOK_URL: expected an http:// or https:// URL"),
        ("REDIS_URL", "redis://cache:6379/notadb", "REDIS_URL: expected a database number"),
        ("APP_USERS", "ana:one,bob:two,ana:three", "APP_USERS: expected each user name once (got 'ana')"),
    ],
)
def test_the_app_stops_with_status_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str, expected: str
) -> None:
    monkeypatch.setattr(os, "environ", {"APP_AUTH": "basic", "APP_USERS": "ana:pw", variable: value})
    monkeypatch.setattr(app_module, "create_app", never_started)  # a value taken must not start a server here
    assert app_module.main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Invalid setting: {expected}") and "Traceback" not in err


@pytest.mark.parametrize(
    "value",
    [
        "http://[::1/x",
        "https://[fe80::1/hook",
        "http://hooks.example:port/x",
        "http://hooks.example:99999/x",
        "ftp://x/y",
    ],
)
def test_a_webhook_url_that_cannot_be_read_is_refused_without_echo(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(ALERT_WEBHOOK_URL=value)
    assert caught.value.variable == "ALERT_WEBHOOK_URL" and value not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("redis://cache:6379/notadb", "a database number after host:port"),
        ("redis://cache:6379/0/extra", "a database number after host:port"),
        ("redis://cache:6379/-1", "a database number after host:port"),
        ("redis://cache:6379/1000001", "a database from 0 to 1000000"),
        ("redis://:pw-9@cache:6379/0?db=-1", "a database from 0 to 1000000"),
        ("redis://:pw-9@cache:6379/0?db=two", "options redis-py takes (Invalid value for 'db'"),
        ("redis://cache:6379/0?colour=blue", "options redis-py takes (AbstractConnection.__init__() got an unexp"),
        ("redis://cache:6379/0?protocol=9", "options redis-py takes (protocol must be either 2 or 3)"),
        ("rediss://cache:6379/0?ssl_cert_reqs=maybe", "options redis-py takes (Invalid SSL Certificate"),
        ("redis://cache:0/0", "a port from 1 to 65535"),
        ("redis://cache:65536/0", "redis://[:password@]host:port/db"),
        ("redis://[::1:6379/0", "redis://[:password@]host:port/db"),
        ("redis://ca che:6379/0", "redis://[:password@]host:port/db"),
        ("redis://:6379/0", "redis://[:password@]host:port/db"),
        ("unix://", "redis://[:password@]host:port/db"),
    ],
)
def test_redis_url_oddities_are_refused_with_the_password_masked(value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(REDIS_URL=value)
    assert caught.value.variable == "REDIS_URL"
    assert str(caught.value).startswith(f"REDIS_URL: expected {expected}")
    assert "pw-9" not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("redis://cache:6379/3", "redis://cache:6379/3"),
        ("redis://cache:6379", "redis://cache:6379"),
        ("redis://cache:6379/", "redis://cache:6379/"),
        ("REDIS://cache:6379/2", "redis://cache:6379/2"),  # redis-py refuses an upper-case scheme
        ("redis://:p%40ss@[::1]:6379/0?socket_timeout=2", "redis://:p%40ss@[::1]:6379/0?socket_timeout=2"),
        ("rediss://cache:6380/0?ssl_cert_reqs=none", "rediss://cache:6380/0?ssl_cert_reqs=none"),
        ("unix:///run/redis.sock?db=2", "unix:///run/redis.sock?db=2"),
    ],
)
def test_redis_urls_redis_py_reads_as_written_are_taken(value: str, url: str) -> None:
    assert load(REDIS_URL=value).redis_url == url


def test_user_names_are_unique_and_the_error_shows_no_password() -> None:
    with pytest.raises(SettingsError) as caught:
        load(APP_AUTH="basic", APP_USERS="ana:first-Secret,ana:second-Secret")
    assert caught.value.variable == "APP_USERS" and "Secret" not in str(caught.value)
    users = load(APP_AUTH="basic", APP_USERS="ana:a1,Ana:a2,bob:b1").app_users
    assert [name for name, _ in users] == ["ana", "Ana", "bob"]
