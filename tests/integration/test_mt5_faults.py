"""MT5 faults seen from the outside: the web server stays responsive and the link heals by itself."""

from __future__ import annotations

import time
from typing import Any

import pytest

from services.core.secret import Secret
from services.ingest.sources.mt5 import MT5Source
from tests.fakes.fake_mt5 import FakeMT5
from tests.helpers import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def terminal(make_app: Any) -> tuple[FakeMT5, Any]:
    fake = FakeMT5(login=31337, password="pw")
    fake.add_balance(time.time() - 3600, 1000.0)
    source = MT5Source(fake.module, login=31337, password=Secret("pw"), server=None, path=None, timeout_ms=1500)
    app = make_app({"POLL_INTERVAL_MS": "100", "MT5_SOURCE": "mt5", "MT5_LOGIN": "31337"}, source=source)
    client = app.server.test_client()
    wait_until(lambda: client.get("/health").get_json()["status"] == "ok", 10, "the link comes up")
    return fake, client


def timed_health(client: Any) -> dict[str, Any]:
    started = time.monotonic()
    body = client.get("/health").get_json()
    assert time.monotonic() - started < 2.0, "/health never waits for MT5 (a call hangs 1 s here)"
    return body


def test_a_hanging_call_leaves_the_web_server_responsive_and_heals(terminal: tuple[FakeMT5, Any]) -> None:
    fake, client = terminal
    fake.hang(1.0)
    wait_until(lambda: timed_health(client)["status"] == "degraded", 10, "a stalled poll shows as degraded")
    assert client.get("/account").status_code == 200, "the last known state is still served"
    fake.unhang()
    wait_until(lambda: timed_health(client)["status"] == "ok", 10, "healthy again once calls return")


def test_a_timed_out_call_reconnects_with_backoff(terminal: tuple[FakeMT5, Any]) -> None:
    fake, client = terminal
    fake.timeout_mode(True)
    wait_until(lambda: client.get("/connection-status").get_json()["error_code"] == -10005, 10, "-10005 reported")
    assert client.get("/connection-status").get_json()["state"] == "reconnecting"
    fake.timeout_mode(False)
    wait_until(lambda: client.get("/connection-status").get_json()["connected"], 15, "reconnected by itself")
    assert fake.calls["initialize"] >= 2 and fake.calls["shutdown"] >= 1


def test_a_dropped_link_shows_and_heals(terminal: tuple[FakeMT5, Any]) -> None:
    fake, client = terminal
    fake.drop_link()
    wait_until(lambda: client.get("/connection-status").get_json()["error_code"] in (-10004, -10003), 10, "link down")
    assert timed_health(client)["status"] == "degraded"
    fake.restore_link()
    wait_until(lambda: client.get("/connection-status").get_json()["connected"], 15, "healed by itself")
