"""Production shape: gunicorn with two threaded workers share one stream with one MT5 caller."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

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


def test_two_workers_one_mt5_caller_and_a_takeover(redis_server: RedisServer, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MT5", "REDIS", "APP_"))}
    env.update({"REDIS_URL": redis_server.url, "APP_PORT": str(port), "MT5_SOURCE": "demo", "HEARTBEAT_S": "1",
                "DATA_DIR": str(tmp_path / "data"),
                "POLL_INTERVAL_MS": "100", "WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "8"})  # fmt: skip
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:wsgi()"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    client = redis_server.client()
    try:
        wait_until(lambda: get_json(base + "/health")["status"] == "ok", 60, "gunicorn serves a healthy app")
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
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
    assert client.get(LEADER_KEY) is None, "a clean shutdown releases the lock"
