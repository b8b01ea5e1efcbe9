"""The pipeline against a real redis-server started by the tests on a free port."""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import time
from typing import Any

import pytest
import websocket

from services.core.models import Deal, HistoryPoint
from services.core.settings import load_settings
from services.ingest import streamer
from services.ingest.leader import LeaderLock
from services.ingest.sources.demo import DemoSource
from services.storage.redis_conn import connect_redis
from services.storage.series import load_window
from services.storage.store import Store
from tests.conftest import RedisServer, free_port
from tests.helpers import after_hello, wait_until

pytestmark = pytest.mark.integration
LOGIN = 5_000_001
STREAMER_LOG = streamer.__name__


def test_subscriber_gets_at_least_3_messages_in_3_s_and_history_grows(redis_server: RedisServer, make_app: Any) -> None:
    client = redis_server.client()
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"mt5:{LOGIN}:events")
    make_app({"REDIS_URL": redis_server.url}, source=DemoSource(seed=4))
    received = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            received.append(json.loads(message["data"]))
    assert len(received) >= 3
    assert {"account", "heartbeat"} <= {m["type"] for m in received}
    first = client.xlen(f"mt5:{LOGIN}:history")
    time.sleep(1)
    assert client.xlen(f"mt5:{LOGIN}:history") > first > 0
    assert json.loads(client.get(f"mt5:{LOGIN}:snapshot"))["account"]["login"] == LOGIN
    assert client.hlen(f"mt5:{LOGIN}:deals") > 0


def test_store_round_trips_history_and_deduplicates_deals(redis_server: RedisServer) -> None:
    store = Store(redis_server.client(), "it", 1000)
    points = [HistoryPoint(1_000 + i, 100.0, 100.0 + i, 5.0, 2000.0, float(i)) for i in range(10)]
    store.append_history(7, points[:5])
    store.append_history(7, points[5:])
    assert store.history(7) == points
    assert store.history(7, start_ms=1_003, end_ms=1_005) == points[3:6]
    assert store.history(7, count=2) == points[-2:]
    assert store.last_history_ts(7) == 1_009
    deal = Deal.from_dict(
        {
            "ticket": 9,
            "order": 1,
            "time": 1,
            "time_msc": 1000,
            "type": 0,
            "entry": 0,
            "magic": 0,
            "position_id": 9,
            "reason": 0,
            "volume": 0.1,
            "price": 1.1,
            "commission": -0.5,
            "swap": 0.0,
            "profit": 0.0,
            "fee": 0.0,
            "symbol": "EURUSD",
            "comment": "",
            "external_id": "",
            "time_utc_ms": 1000,
        }
    )
    assert store.add_deals(7, [deal]) == [deal]
    assert store.add_deals(7, [deal]) == []
    assert store.deals(7) == [deal]
    assert store.deals(7, start_ms=1001) == []


def test_history_stream_is_capped(redis_server: RedisServer) -> None:
    store = Store(redis_server.client(), "cap", 100)
    store.append_history(1, [HistoryPoint(i + 1, 1.0, 1.0, 0.0, 0.0, 0.0) for i in range(2_000)])
    assert 100 <= store.history_length(1) < 400


def test_a_server_without_persistence_is_named_in_one_warning(redis_server: RedisServer, caplog: Any) -> None:
    link = connect_redis(load_settings({"REDIS_URL": redis_server.url}, dotenv_path=None))
    assert link.mode == "real" and link.persistence == "off"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f'Redis at {redis_server.url} has persistence off (save "", appendonly no): a restart of that server loses '
        "the stored history, deals, alerts and rules; set appendonly yes"
    ]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--appendonly", "yes"), "aof"),
        (("--save", "3600 1"), "rdb"),
        (("--appendonly", "yes", "--save", "3600 1"), "aof+rdb"),
        (("--rename-command", "CONFIG", ""), "unknown"),
    ],
)
def test_persistence_is_read_at_connect_and_config_may_be_disabled(
    tmp_path: Any, caplog: Any, options: tuple[str, ...], expected: str
) -> None:
    server = RedisServer(free_port(), tmp_path, options=options)
    server.start()
    try:
        link = connect_redis(load_settings({"REDIS_URL": server.url}, dotenv_path=None))
        assert link.persistence == expected
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        link.client.close()
    finally:
        server.stop()


def test_configured_redis_that_is_down_is_never_replaced_and_heals(tmp_path: Any, make_app: Any) -> None:
    server = RedisServer(free_port(), tmp_path)
    app = make_app({"REDIS_URL": server.url, "POLL_INTERVAL_MS": "100"}, source=DemoSource(seed=5))
    client = app.server.test_client()
    runtime = app.server.extensions["mt5_runtime"]
    wait_until(lambda: runtime.streamer.status().polls >= 5, 10, "the streamer polls while Redis is down")
    health = client.get("/health").get_json()
    assert health["status"] == "degraded"
    assert health["redis"]["mode"] == "real" and health["redis"]["up"] is False
    assert client.get("/account").status_code == 200, "the streamer's state is served without Redis"
    assert client.get("/deals").status_code == 503
    buffered = runtime.streamer.status().pending_history
    assert buffered >= 3
    server.start()
    try:
        wait_until(lambda: client.get("/health").get_json()["status"] == "ok", 15, "the app heals when Redis starts")
        wait_until(lambda: runtime.store.history_length(LOGIN) >= buffered, 5, "buffered history is written")
        wait_until(lambda: client.get("/deals").get_json()["count"] > 0, 5, "buffered deals are written")
    finally:
        server.stop()


def test_redis_restart_keeps_websocket_clients_and_resumes(
    redis_server: RedisServer, make_app: Any, serve: Any
) -> None:
    app = make_app(
        {"REDIS_URL": redis_server.url, "POLL_INTERVAL_MS": "100", "HEARTBEAT_S": "1"}, source=DemoSource(seed=6)
    )
    live = serve(app.server)
    ws = websocket.create_connection(live.ws_url, timeout=10)
    try:
        assert after_hello(ws)["type"] == "snapshot"
        runtime = app.server.extensions["mt5_runtime"]
        wait_until(lambda: runtime.archive.pending == 0 and runtime.store.deal_count(LOGIN), 10, "archived")
        deals_before = runtime.store.deal_count(LOGIN)
        first_before = runtime.store.first_history_ts(LOGIN)
        outage_ms = int(time.time() * 1000)
        redis_server.stop()  # it keeps nothing on disk: it comes back empty
        saw_down = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not saw_down:
            message = json.loads(ws.recv())
            saw_down = message["type"] == "status" and message["data"].get("redis") == "down"
        assert saw_down, "clients are told that Redis is down"
        time.sleep(10)
        redis_server.start()
        ws.settimeout(30)  # a stream that never resumes fails here instead of hanging
        while json.loads(ws.recv())["type"] != "account":
            pass
        wait_until(lambda: runtime.streamer.status().pending_history == 0, 5, "the buffer drains")
        ts = [p.ts for p in runtime.store.history(LOGIN, start_ms=outage_ms - 500)]
        gaps = [b - a for a, b in itertools.pairwise(ts)]
        assert ts and max(gaps) < 1_500, "history polled while Redis was down (3 s and more) has no gap"
        assert runtime.streamer.writer_health()["restores"] == 1, "the empty Redis was noticed once"
        assert runtime.store.deal_count(LOGIN) >= deals_before, "every deal is back without a reconnect"
        window = load_window(runtime.store, LOGIN, None, None, 4_000, archive=runtime.archive_reader)
        assert window.points[0].ts == first_before and window.source.startswith("archive+"), "nothing shown is lost"
    finally:
        ws.close()


def test_a_frozen_redis_is_detected_and_heals(redis_server: RedisServer, make_app: Any, serve: Any) -> None:
    """SIGSTOP: the half-open case, where the socket stays up and nothing answers."""
    env = {"REDIS_URL": redis_server.url, "POLL_INTERVAL_MS": "100", "HEARTBEAT_S": "1"}
    app = make_app(env, source=DemoSource(seed=7))
    runtime = app.server.extensions["mt5_runtime"]
    client = app.server.test_client()
    ws = websocket.create_connection(serve(app.server).ws_url, timeout=20)
    try:
        assert after_hello(ws)["type"] == "snapshot"
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        frozen, frozen_at_ms = time.monotonic(), int(time.time() * 1000)

        def health_says_down() -> bool:
            asked = time.monotonic()
            health = client.get("/health").get_json()
            assert time.monotonic() - asked < 3, "/health answers while Redis hangs"
            return health["redis"]["up"] is False and health["status"] == "degraded"

        wait_until(health_says_down, 15, "a frozen Redis is reported")
        wait_until(lambda: runtime.streamer.status().redis == "down", 15 - (time.monotonic() - frozen), "detected")
        polls = runtime.streamer.status().polls
        wait_until(lambda: runtime.streamer.status().polls >= polls + 50, 60, "fifty polls while Redis hangs")
        frozen_ms = int(time.time() * 1000)
        os.kill(redis_server.process.pid, signal.SIGCONT)
        wait_until(lambda: client.get("/health").get_json()["status"] == "ok", 20, "healed after SIGCONT")
        wait_until(lambda: runtime.streamer.status().pending_history == 0, 10, "the buffer drains")
        ts = [p.ts for p in runtime.store.history(LOGIN, start_ms=frozen_at_ms, end_ms=frozen_ms)]
        gaps = [b - a for a, b in itertools.pairwise(ts)]
        assert len(ts) >= 40 and max(gaps) < 1_500, "the polls made while Redis hung (100 ms apart) are all kept"
        deadline = time.monotonic() + 10
        while json.loads(ws.recv())["type"] != "account":
            assert time.monotonic() < deadline, "the WebSocket client gets updates again"
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
        ws.close()


def test_a_redis_that_refuses_writes_is_reported_once_and_gets_the_buffer_back(
    tmp_path: Any, make_app: Any, caplog: Any
) -> None:
    """At maxmemory under noeviction the server answers a ping and refuses every write (OOM)."""
    server = RedisServer(free_port(), tmp_path, options=("--maxmemory-policy", "noeviction"))
    server.start()
    admin = server.client()
    try:
        app = make_app({"REDIS_URL": server.url, "POLL_INTERVAL_MS": "100"}, source=DemoSource(seed=8))
        runtime = app.server.extensions["mt5_runtime"]
        client = app.server.test_client()
        wait_until(lambda: client.get("/health").get_json()["status"] == "ok", 10, "a healthy start")
        caplog.set_level(logging.INFO, logger=STREAMER_LOG)
        caplog.clear()
        full_ms = int(time.time() * 1000)
        admin.config_set("maxmemory", "1")
        wait_until(lambda: runtime.streamer.status().redis == "refusing", 10, "the refusal is noticed")
        polls = runtime.streamer.status().polls
        wait_until(lambda: runtime.streamer.status().polls >= polls + 10, 10, "ten polls while Redis refuses")
        health = client.get("/health").get_json()
        assert health["status"] == "degraded"
        assert health["redis"]["up"] is False and health["redis"]["latency_ms"] is not None, "it answers, not writes"
        assert health["redis"]["streamer_writes"] == "refusing"
        assert health["redis"]["error"] == ("OutOfMemoryError: command not allowed when used memory > 'maxmemory'.")
        assert health["redis"]["pending_history"] > 0
        refused = [
            r for r in caplog.records if r.name == "services.ingest.streamer" and "refuses writes" in r.getMessage()
        ]
        assert len(refused) == 1
        assert [r.getMessage() for r in caplog.records if r.exc_info] == [], "no traceback per poll"
        admin.config_set("maxmemory", "0")
        wait_until(lambda: client.get("/health").get_json()["status"] == "ok", 10, "healed once Redis takes writes")
        wait_until(lambda: runtime.streamer.status().pending_history == 0, 5, "the buffer drains")
        resumed = [r for r in caplog.records if "Redis accepts writes again" in r.getMessage()]
        assert len(resumed) == 1
        ts = [p.ts for p in runtime.store.history(LOGIN, start_ms=full_ms - 500)]
        gaps = [b - a for a, b in itertools.pairwise(ts)]
        assert ts and max(gaps) < 1_500, "history polled while Redis refused writes has no gap"
    finally:
        admin.close()
        server.stop()


def test_a_start_on_a_full_redis_polls_and_reports_the_refusal(tmp_path: Any, make_app: Any, caplog: Any) -> None:
    """The leader lock cannot be written either: the one process polls MT5, as when Redis is unreachable."""
    server = RedisServer(free_port(), tmp_path, options=("--maxmemory", "1", "--maxmemory-policy", "noeviction"))
    server.start()
    try:
        app = make_app({"REDIS_URL": server.url, "POLL_INTERVAL_MS": "100"}, source=DemoSource(seed=9))
        runtime = app.server.extensions["mt5_runtime"]
        wait_until(lambda: runtime.streamer.status().polls >= 10, 10, "ten polls on a full Redis")
        health = app.server.test_client().get("/health").get_json()
        assert (health["status"], health["redis"]["streamer_writes"]) == ("degraded", "refusing")
        assert health["redis"]["pending_history"] > 0
        refused = [
            r for r in caplog.records if r.name == "services.ingest.streamer" and "refuses writes" in r.getMessage()
        ]
        assert len(refused) == 1
        assert [r.getMessage() for r in caplog.records if r.exc_info] == [], "no traceback per poll"
    finally:
        server.stop()


def test_a_full_redis_keeps_the_leader_lock_with_its_holder(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.config_set("maxmemory-policy", "noeviction")
    holder, other = LeaderLock(client, "mt5:1:leader"), LeaderLock(client, "mt5:1:leader")
    assert holder.acquire_or_renew()
    client.config_set("maxmemory", "1")
    assert holder.acquire_or_renew(), "renewing is allowed on a full Redis"
    assert holder.may_write(), "its writes are refused, and it says so"
    assert not other.acquire_or_renew(), "the other process follows the holder"
    client.delete("mt5:1:leader")
    assert other.acquire_or_renew(), "with no holder, a process that cannot take the lock polls"
    assert not other.may_write() and other.error is not None, "but holds no lock: it only reports the refusal"
