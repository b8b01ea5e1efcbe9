"""``python app.py`` as a user runs it: start, health, settings errors, clean and quick stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import websocket

from tests.conftest import RedisServer, free_port
from tests.helpers import after_hello, wait_until
from tests.stopping import LEADER_KEY, Page, assert_flushed, live_history

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Pa55-word-never-shown"


def launch(env: dict[str, str], tmp_path: Path) -> tuple[subprocess.Popen[str], int, Path]:
    port = free_port()
    log_path = tmp_path / "app.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MT5", "REDIS", "APP_", "DATABASE_URL"))}
    full_env.update({"APP_PORT": str(port), "PYTHONUNBUFFERED": "1", "DATA_DIR": str(tmp_path / "data"), **env})
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=full_env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return process, port, log_path


def get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return json.loads(response.read())


def wait_healthy(port: int, process: subprocess.Popen[str], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the app exited early"
        try:
            health = get_json(port, "/health")
            if health["status"] == "ok":
                return health
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("the app did not become healthy")


@pytest.mark.parametrize(
    ("variable", "value"), [("MT5_LOGIN", "abc"), ("POLL_INTERVAL_MS", "-1"), ("REDIS_URL", "foo://x")]
)
def test_bad_setting_exits_2_with_one_line_naming_it(variable: str, value: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MT5", "REDIS", "APP_"))}
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env={**env, variable: value}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0] and "expected" in lines[0]


def test_a_busy_port_exits_2_with_one_line_naming_app_port(tmp_path: Path) -> None:
    """Checked as the settings are, before anything is built: one line, nothing logged before it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MT5", "REDIS", "APP_", "DATABASE_URL"))}
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                                env={**env, "APP_PORT": str(port), "DATA_DIR": str(tmp_path / "data")})  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Invalid setting: APP_PORT: port {port} on 127.0.0.1 is in use by another program")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_demo_on_embedded_redis_then_stops_cleanly(tmp_path: Path, stop_signal: signal.Signals) -> None:
    env = {"REDIS_URL": "embedded", "MT5_PASSWORD": PASSWORD, "MT5_SERVER": "Somewhere-Live", "LOG_LEVEL": "DEBUG"}
    process, port, log_path = launch(env, tmp_path)
    try:
        health = wait_healthy(port, process)
        assert health["mt5"]["demo"] is True and health["redis"]["embedded"] is True
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=5) as response:
            assert "Werkzeug" not in response.headers.get("Server", ""), "served by cheroot, not the dev server"
        first = get_json(port, "/account")["equity"]
        wait_until(lambda: get_json(port, "/account")["equity"] != first, 10, "the equity moving")
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=5)
        assert after_hello(ws)["type"] == "snapshot"
        bodies = [json.dumps(get_json(port, path)) for path in ("/health", "/mt5/status", "/api", "/connection-status")]
        process.send_signal(stop_signal)
        code = process.wait(30)  # the app bounds its own stop: no wait here to tune
        close_code = None
        with pytest.raises((websocket.WebSocketException, ConnectionError, OSError)):
            while True:
                opcode, data = ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    close_code = int.from_bytes(data[:2], "big")
                    ws.recv()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    output = log_path.read_text()
    assert code == 0
    assert close_code == 1001
    assert "Traceback" not in output
    assert "demo account" in output and "embedded" in output
    assert PASSWORD not in output and all(PASSWORD not in body for body in bodies)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_on_a_real_redis_closes_the_pages_releases_the_lock_and_flushes(
    tmp_path: Path, redis_server: RedisServer, stop_signal: signal.Signals
) -> None:
    process, port, log_path = launch({"REDIS_URL": redis_server.url, "POLL_INTERVAL_MS": "100"}, tmp_path)
    client = redis_server.client()
    try:
        wait_healthy(port, process)
        page = Page(f"ws://127.0.0.1:{port}/ws")
        live_history(client, 10)
        assert client.get(LEADER_KEY) is not None, "the one process holds the lock"
        process.send_signal(stop_signal)
        wait_until(lambda: process.poll() is not None, 10, "the app exits")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0
    wait_until(page.ended.is_set, 5, "the page's socket ends")
    assert page.close_code == 1001
    assert client.get(LEADER_KEY) is None, "the lock is released"
    assert_flushed(client, tmp_path / "data")
    assert "Traceback" not in log_path.read_text()


def test_debug_reloader_starts_the_threads_once(tmp_path: Path) -> None:
    process, port, log_path = launch({"REDIS_URL": "embedded", "APP_DEBUG": "true"}, tmp_path)
    try:
        wait_healthy(port, process)
        time.sleep(1)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    output = log_path.read_text()
    assert output.count("MT5 source connected") == 1


def test_bad_rules_file_exits_2_naming_the_line_and_field(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - kind: drawdown\n    limit: -5\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MT5", "REDIS", "APP_", "RULES"))}
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT,
        env={**env, "REDIS_URL": "embedded", "RULES_FILE": str(rules), "APP_PORT": str(free_port())},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Invalid setting: RULES_FILE:") and "line 3" in last and "limit" in last
