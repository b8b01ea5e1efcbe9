"""Which Redis the app picks when nothing is configured: the embedded one, without asking any server."""

from __future__ import annotations

import logging

import pytest

from services import redis_conn
from services.redis_conn import connect_redis
from services.settings import load_settings


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
