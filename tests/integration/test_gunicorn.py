"""Production shape: gunicorn with two threaded workers share one stream with one MT5 caller; a worker whose
WebSocket slots are all taken still answers requests."""

from __future__ import annotations

import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import websocket

from tests.conftest import RedisServer, free_port
from tests.helpers import get_json, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
LEADER_KEY = "mt5:5000001:leader"


def roles_by_worker(base: str) -> dict[int, str] | None:
    """Each worker's role, once requests have reached both of them."""
    seen = {}
    for _ in range(40):
        mt5 = get_json(base + "/health")["mt5"]
        seen[mt5["worker_pid"]] = mt5["role"]
    return seen if len(seen) == 2 and set(seen.values()) <= {"leader", "follower"} else None


def heartbeats_in(client: Any, seconds: float) -> int:
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("mt5:5000001:events")
    count, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        count += message is not None and json.loads(message["data"])["type"] == "heartbeat"
    pubsub.close()
    return count


@contextmanager
def gunicorn(redis_server: RedisServer, tmp_path: Path, settings: dict[str, str]) -> Iterator[str]:
    """gunicorn with gunicorn.conf.py and these settings, healthy; its base URL. Stopped with SIGTERM afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MT5", "REDIS", "APP_", "WS_", "GUNICORN"))}
    env.update({"REDIS_URL": redis_server.url, "APP_PORT": str(port), "MT5_SOURCE": "demo", "HEARTBEAT_S": "1",
                "DATA_DIR": str(tmp_path / "data"), "POLL_INTERVAL_MS": "100", **settings})  # fmt: skip
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:wsgi()"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: get_json(base + "/health")["status"] == "ok", 60, "gunicorn serves a healthy app")
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def test_two_workers_one_mt5_caller_and_a_takeover(redis_server: RedisServer, tmp_path: Path) -> None:
    client = redis_server.client()
    settings = {"WEB_CONCURRENCY": "2", "WS_MAX_CONNECTIONS": "4", "GUNICORN_THREADS": "8"}
    with gunicorn(redis_server, tmp_path, settings) as base:
        holder = wait_until(lambda: client.get(LEADER_KEY), 15, "a leader holds the lock")
        leader_pid = int(holder.split(":")[1])
        workers = wait_until(lambda: roles_by_worker(base), 30, "both workers answer")
        assert sorted(workers.values()) == ["follower", "leader"]
        assert 2 <= heartbeats_in(client, 4.0) <= 6, "one streamer publishes (one heartbeat a second)"
        assert get_json(base + "/account")["login"] == 5_000_001, "any worker serves the account"
        os.kill(leader_pid, signal.SIGKILL)
        killed = time.monotonic()
        new_holder = wait_until(lambda: (h := client.get(LEADER_KEY)) and int(h.split(":")[1]) != leader_pid and h,
                                12, "another worker takes over")  # fmt: skip
        assert time.monotonic() - killed <= 10.0
        assert int(new_holder.split(":")[1]) != leader_pid
        wait_until(lambda: heartbeats_in(client, 2.0) >= 1, 10, "the stream goes on")
    assert client.get(LEADER_KEY) is None, "a clean shutdown releases the lock"


UPGRADE = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")  # fmt: skip


def refused(base: str, count: int) -> dict[str, Any] | None:
    """The WebSocket section of /health, once this many connections have been refused."""
    report = get_json(base + "/health")["websocket"]
    return report if report["refused"] == count else None


def test_requests_are_answered_while_every_websocket_slot_is_taken(redis_server: RedisServer, tmp_path: Path) -> None:
    cap, sockets = 8, 70  # more sockets than the 64 threads a worker had before the cap
    with gunicorn(redis_server, tmp_path, {"WEB_CONCURRENCY": "1", "WS_MAX_CONNECTIONS": str(cap)}) as base:
        idle = [socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=5) for _ in range(sockets)]
        try:
            for sock in idle:  # upgrade requests, then nothing: they never read and never answer a close
                sock.sendall(UPGRADE.encode())
            report = wait_until(
                lambda: refused(base, sockets - cap), 30, "/health once the sockets over the cap are refused"
            )
            assert (report["clients"], report["max_clients"]) == (cap, cap)
            extra = websocket.create_connection(base.replace("http", "ws") + "/ws", timeout=5)
            try:
                error = json.loads(extra.recv())
                assert error["type"] == "error" and "try again later" in error["data"]["message"]
                opcode, data = extra.recv_data(control_frame=True)
                assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 1013
            finally:
                extra.close(timeout=0)
            assert get_json(base + "/account")["login"] == 5_000_001
        finally:
            for sock in idle:
                sock.close()


def test_threads_exceed_the_websocket_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUNICORN_THREADS", raising=False)
    monkeypatch.setenv("WS_MAX_CONNECTIONS", "8")
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert config["threads"] == 8 + config["REST_THREADS"]
    monkeypatch.setenv("GUNICORN_THREADS", "8")
    with pytest.raises(SystemExit, match="GUNICORN_THREADS: expected more than WS_MAX_CONNECTIONS"):
        runpy.run_path(str(ROOT / "gunicorn.conf.py"))
