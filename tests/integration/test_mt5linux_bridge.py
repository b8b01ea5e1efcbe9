"""The app through the real mt5linux server (the pinned package's ``python -m mt5linux``), killed and restarted.

The server runs as its own process with the fake MetaTrader5 in it (tests/fakes/fake_bridge.py);
the app is built from settings exactly as ``MT5_SOURCE=mt5linux`` builds it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.fake_bridge import LOGIN, PASSWORD, SERVER, FakeBridge
from tests.helpers import wait_until

pytestmark = pytest.mark.integration

DEALS = 3000
EVERYTHING = "/deals?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[FakeBridge]:
    server = FakeBridge(DEALS, log_path=tmp_path / "bridge.log")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def client(bridge: FakeBridge, make_app: Any) -> Any:
    env = {
        "MT5_SOURCE": "mt5linux",
        "MT5LINUX_HOST": "127.0.0.1",
        "MT5LINUX_PORT": str(bridge.port),
        "MT5_LOGIN": str(LOGIN),
        "MT5_PASSWORD": PASSWORD,
        "MT5_SERVER": SERVER,
        "POLL_INTERVAL_MS": "100",
    }
    return make_app(env).server.test_client()


def get(client: Any, path: str) -> Any:
    response = client.get(path)
    assert PASSWORD not in response.get_data(as_text=True), f"{path} shows the MT5 password"
    return response.get_json()


def connection(client: Any) -> dict[str, Any]:
    return get(client, "/connection-status")


def test_the_app_runs_through_the_bridge_and_heals_after_a_bridge_kill(
    bridge: FakeBridge, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wait_until(lambda: get(client, "/health")["status"] == "ok", 60, "the app connected through the bridge")
    wait_until(lambda: get(client, EVERYTHING)["count"] == DEALS, 60, "the whole deal history stored")
    assert get(client, "/account")["login"] == LOGIN
    assert len(get(client, "/positions")) == 1
    assert len(get(client, "/orders")) == 1
    assert get(client, "/mt5/status")["source"] == "mt5linux"

    bridge.kill()
    down = wait_until(lambda: (s := connection(client))["state"] == "reconnecting" and s, 30, "the link reported down")
    assert down["error_code"] in (-10003, -10004, -10005)
    assert get(client, "/health")["status"] == "degraded"
    wait_until(lambda: connection(client)["failures"] >= 4, 60, "several refused reconnects")
    status = connection(client)
    assert status["error_code"] == -10003 and "-m mt5linux --host" in status["error"], "the hint names the command"
    assert status["next_retry_ms"] - time.time() * 1000 <= 2000, "a refused bridge is tried again within 2 s"

    restarted = time.monotonic()
    bridge.start()
    wait_until(lambda: connection(client)["state"] == "connected", 30, "reconnected after the bridge restart")
    print(f"reconnected {time.monotonic() - restarted:.2f} s after the bridge listened again")
    assert connection(client)["error"] is None
    health = get(client, "/health")
    assert health["mt5"]["error"] is None and health["mt5"]["error_code"] is None
    status = get(client, "/mt5/status")
    assert status["details"]["last_error"] is None, "the old error is gone from /mt5/status"
    assert status["status"]["mt5_error"] is None and status["details"]["session_open"] is True
    wait_until(lambda: get(client, "/health")["status"] == "ok", 30, "healthy again")
    assert get(client, EVERYTHING)["count"] == DEALS, "the same history again, no duplicates"
    assert get(client, "/account")["login"] == LOGIN
    assert PASSWORD not in caplog.text, "the MT5 password reached the log"
    assert "MT5 link down" in caplog.text
