"""Production shape: gunicorn with two threaded workers share one stream with one MT5 caller, hand it over when
the leader dies, and stop cleanly with pages open; a worker whose WebSocket slots are all taken still answers."""

from __future__ import annotations

import itertools
import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import websocket

from services.ingest.leader import TTL_S
from tests.conftest import RedisServer, free_port
from tests.helpers import get_json, wait_until
from tests.stopping import LEADER_KEY, LOGIN, Page, assert_flushed, history_ts, live_history

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
GRACEFUL_TIMEOUT_S = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["graceful_timeout"]
UNCLEAN = ("SIGKILL", "was sent", "exited with code", "WORKER TIMEOUT", "Traceback")  # the master's words for a kill


@dataclass
class Gunicorn:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    data_dir: Path
    pages: list[Page] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text()

    def unclean(self) -> list[str]:
        return [line for line in self.log().splitlines() if any(word in line for word in UNCLEAN)]

    def pages_on_both_workers(self) -> dict[str, Page]:
        """Pages are opened until each worker (the leader and the follower) serves one."""

        def both() -> dict[str, Page] | None:
            self.pages.append(Page(f"ws://127.0.0.1:{self.port}/ws"))
            by_role = {page.role: page for page in self.pages if page.role is not None}
            return by_role if {"leader", "follower"} <= set(by_role) else None

        return wait_until(both, 20, "a page on each worker")


@pytest.fixture
def gunicorn(redis_server: RedisServer, tmp_path: Path) -> Iterator[Callable[..., Gunicorn]]:
    """``gunicorn -c gunicorn.conf.py "app:wsgi()"`` on the test's Redis (two workers unless told otherwise);
    killed if left running."""
    started: list[Gunicorn] = []

    def start(poll_ms: int, **settings: str) -> Gunicorn:
        port = free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MT5", "REDIS", "APP_", "DATABASE_URL", "WS_", "GUNICORN", "WEB_"))}  # fmt: skip
        env.update({"REDIS_URL": redis_server.url, "APP_PORT": str(port), "MT5_SOURCE": "demo", "HEARTBEAT_S": "1",
                    "DATA_DIR": str(tmp_path / "data"), "POLL_INTERVAL_MS": str(poll_ms), "WEB_CONCURRENCY": "2",
                    "WS_MAX_CONNECTIONS": "4", "GUNICORN_THREADS": "8", **settings})  # fmt: skip
        env = {name: value for name, value in env.items() if value != ""}  # "": not set, gunicorn.conf.py's default
        log_path = tmp_path / "gunicorn.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:wsgi()"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        server = Gunicorn(process, port, log_path, tmp_path / "data")
        started.append(server)

        def healthy() -> bool:
            assert process.poll() is None, f"gunicorn exited early:\n{server.log()}"
            return get_json(server.base + "/health")["status"] == "ok"

        wait_until(healthy, 60, "gunicorn serves a healthy app")
        return server

    yield start
    for server in started:
        for page in server.pages:
            page.ws.close()
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(10)


def test_a_busy_port_exits_2_with_one_line_naming_app_port(redis_server: RedisServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MT5", "REDIS", "APP_", "GUNICORN", "WEB_"))}
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:wsgi()"], cwd=ROOT,
                                env={**env, "APP_PORT": str(port), "REDIS_URL": redis_server.url},
                                capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Invalid setting: APP_PORT: port {port} on 127.0.0.1 is in use by another program")


def leader_pid(client: redis.Redis) -> int:
    holder = wait_until(lambda: client.get(LEADER_KEY), 15, "a leader holds the lock")
    return int(holder.split(":")[1])


def roles_by_worker(base: str) -> dict[int, str] | None:
    """Each worker's role, once requests have reached both of them."""
    seen = {}
    for _ in range(40):
        mt5 = get_json(base + "/health")["mt5"]
        seen[mt5["worker_pid"]] = mt5["role"]
    return seen if len(seen) == 2 and set(seen.values()) <= {"leader", "follower"} else None


def heartbeats_in(client: redis.Redis, seconds: float) -> int:
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"mt5:{LOGIN}:events")
    count, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        count += message is not None and json.loads(message["data"])["type"] == "heartbeat"
    pubsub.close()
    return count


def last_poll_of_stopped_streamer(pubsub: Any) -> int:
    """The last poll of the streamer that stopped, as its ``mt5: stopped`` status event says."""

    def stopped() -> int | None:
        while (message := pubsub.get_message(timeout=0.1)) is not None:
            event = json.loads(message["data"])
            if event["type"] == "status" and event["data"]["mt5"] == "stopped":
                return event["data"]["last_poll_ms"]
        return None

    return wait_until(stopped, 10, "the stopped streamer's status event")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])  # SIGINT: SIGQUITs
def test_a_stop_of_the_master_closes_every_page_releases_the_lock_and_flushes(
    redis_server: RedisServer, gunicorn: Callable[..., Gunicorn], stop_signal: signal.Signals
) -> None:
    server = gunicorn(100)
    client = redis_server.client()
    leader_pid(client)
    pages = server.pages_on_both_workers()
    live_history(client, 10)
    server.process.send_signal(stop_signal)
    # A worker still busy at graceful_timeout would be killed, and the master would exit after it.
    wait_until(lambda: server.process.poll() is not None, GRACEFUL_TIMEOUT_S - 1, "the master exits")
    assert server.process.returncode == 0
    for page in pages.values():
        wait_until(page.ended.is_set, 5, "the page's socket ends")
        assert page.close_code == 1001, f"the {page.role}'s page is told the server goes away"
    assert server.unclean() == []
    assert server.log().count("Worker exiting") == 2
    assert client.get(LEADER_KEY) is None, "the leader released its lock"
    assert_flushed(client, server.data_dir)


def test_sigterm_to_the_leader_worker_closes_its_pages_and_hands_over_at_once(
    redis_server: RedisServer, gunicorn: Callable[..., Gunicorn]
) -> None:
    server = gunicorn(100)
    client = redis_server.client()
    old = leader_pid(client)
    pages = server.pages_on_both_workers()
    live_history(client, 10)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"mt5:{LOGIN}:events")
    os.kill(old, signal.SIGTERM)
    wait_until(pages["leader"].ended.is_set, 10, "the leader's page is closed")
    assert pages["leader"].close_code == 1001
    wait_until(lambda: leader_pid(client) != old, 10, "another worker polls")
    # The master replaces the worker once it has exited and been reaped; a kill would be logged by then.
    wait_until(lambda: server.log().count("Booting worker") == 3, 30, "the worker exits and is replaced")
    assert server.unclean() == []
    released = [line for line in server.log().splitlines() if "leader lock released" in line]
    assert len(released) == 1 and f":{old}:" in released[0], "deleted by its holder, not left to expire"
    assert not pages["follower"].ended.is_set(), "the other worker's page stays open"
    assert_flushed(client, server.data_dir, last_poll_of_stopped_streamer(pubsub))
    after = history_ts(client)[-1]
    wait_until(lambda: history_ts(client)[-1] > after, 10, "the new leader records history")


def test_two_workers_one_mt5_caller_and_a_takeover_within_two_polls_and_the_ttl(
    redis_server: RedisServer, gunicorn: Callable[..., Gunicorn]
) -> None:
    poll_ms = 1500  # the demo's first poll in a process simulates its past: a few hundred ms, whatever the interval
    server = gunicorn(poll_ms)
    client = redis_server.client()
    started_ms = int(time.time() * 1000)
    old = leader_pid(client)
    workers = wait_until(lambda: roles_by_worker(server.base), 30, "both workers answer")
    assert sorted(workers.values()) == ["follower", "leader"]
    assert 2 <= heartbeats_in(client, 4.0) <= 6, "one streamer publishes (one heartbeat a second)"
    assert get_json(server.base + "/account")["login"] == LOGIN, "any worker serves the account"
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: leader_pid(client) != old, 30, "another worker takes over")
    taken = history_ts(client)[-1]
    wait_until(lambda: len(history_ts(client)) - len(history_ts(client, taken)) >= 2, 30, "the new leader records")
    live = [ts for ts in history_ts(client) if ts >= started_ms]
    gap = max(b - a for a, b in itertools.pairwise(live))
    assert gap <= 2 * poll_ms + TTL_S * 1000, f"history stopped for {gap} ms at the take-over"


UPGRADE = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")  # fmt: skip


def refused(base: str, count: int) -> dict[str, Any] | None:
    """The WebSocket section of /health, once this many connections have been refused."""
    report = get_json(base + "/health")["websocket"]
    return report if report["refused"] == count else None


def test_requests_are_answered_while_every_websocket_slot_is_taken(gunicorn: Callable[..., Gunicorn]) -> None:
    cap, sockets = 8, 70  # more sockets than the 64 threads a worker had before the cap
    server = gunicorn(100, WEB_CONCURRENCY="1", WS_MAX_CONNECTIONS=str(cap), GUNICORN_THREADS="")
    base = server.base
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(sockets)]
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
