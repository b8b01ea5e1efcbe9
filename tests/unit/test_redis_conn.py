"""Which Redis the app picks when nothing is configured: the embedded one, without asking any server."""

from __future__ import annotations

import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError, ResponseError

from services.core.settings import load_settings
from services.storage import redis_conn
from services.storage.redis_conn import connect_redis, refusal


def test_nothing_configured_runs_the_embedded_redis_and_never_tries_a_server(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_server(url: str) -> None:
        raise AssertionError(f"a Redis client for {url} was made with nothing configured")

    monkeypatch.setattr(redis_conn, "real_client", no_server)
    monkeypatch.setattr(redis_conn, "probe_client", no_server)
    link = connect_redis(load_settings({}, dotenv_path=None))
    assert (link.mode, link.configured, link.persistence) == ("embedded", False, "off")
    assert link.ping_ms() is not None
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            "Redis: using the embedded in-process Redis (no REDIS_URL or REDIS_HOST/REDIS_PORT set); "
            "data lives only in this process's memory",
        )
    ]


def test_embedded_on_request_is_configured() -> None:
    link = connect_redis(load_settings({"REDIS_URL": "embedded"}, dotenv_path=None))
    assert (link.mode, link.configured) == ("embedded", True)


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (OutOfMemoryError("command not allowed when used memory > 'maxmemory'."), "OutOfMemoryError: command not"),
        (ReadOnlyError("You can't write against a read only replica."), "ReadOnlyError: You can't write"),
        (
            ResponseError("MISCONF Redis is configured to save RDB snapshots, but it's currently unable"),
            "MISCONF Redis",
        ),
        (
            OutOfMemoryError("Command # 1 (SET k v) of pipeline caused error: command not allowed when used memory"),
            "OutOfMemoryError: command not allowed",
        ),
        (ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), None),
        (RedisConnectionError("Connection refused"), None),
    ],
)
def test_a_refusal_is_told_from_other_errors_by_the_servers_words(exc: Exception, reason: str | None) -> None:
    found = refusal(exc)
    assert found == reason if reason is None else found.startswith(reason)
