"""The streamer against the demo source and the fake MT5, on the embedded (fakeredis) Redis."""

from __future__ import annotations

import json
import sys
from typing import Any

import fakeredis
import pytest

from services.core.backoff import Backoff
from services.ingest.sources.bridge import BridgeClient
from services.ingest.sources.demo import DemoSource
from services.ingest.sources.mt5 import MT5Source
from services.ingest.streamer import Streamer
from services.storage.redis_conn import RedisGate
from services.storage.store import Store
from tests.fakes.fake_mt5 import FakeMT5


class Clock:
    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 0.25) -> None:
        self.now += seconds


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def store(server: fakeredis.FakeServer) -> Store:
    return Store(fakeredis.FakeRedis(server=server, decode_responses=True), "t", 10_000)


def listen(store: Store, login: int) -> Any:
    pubsub = store.client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(store.keys.events(login))
    pubsub.get_message(timeout=0.1)  # the subscribe confirmation
    return pubsub


def drain(pubsub: Any) -> list[dict[str, Any]]:
    events = []
    while (message := pubsub.get_message(timeout=0.01)) is not None:
        events.append(json.loads(message["data"]))
    return events


def demo_streamer(store: Store, clock: Clock, **kwargs: Any) -> tuple[DemoSource, Streamer]:
    source = DemoSource(seed=3, clock=clock, start_utc_s=clock.now - 86_400)
    streamer = Streamer(source, store, clock=clock, heartbeat_s=5, backoff=Backoff(1.0, 30.0, jitter=0), **kwargs)
    return source, streamer


def test_first_poll_publishes_everything_and_stores_snapshot_history_and_deals(store: Store) -> None:
    clock = Clock()
    source, streamer = demo_streamer(store, clock)
    events = listen(store, 5_000_001)
    streamer.step()
    kinds = [e["type"] for e in drain(events)]
    assert kinds[:3] == ["account", "positions", "orders"]
    assert "heartbeat" in kinds
    assert "deals" not in kinds, "the account's past, read at start, is stored without a deal-by-deal announcement"
    snapshot = store.snapshot(5_000_001)
    assert snapshot is not None and snapshot["account"]["login"] == 5_000_001
    points = store.history(5_000_001)
    assert len(points) == 1 + 24 * 60, "a day of simulated past (one point a minute), then the first poll"
    assert points[0].ts == int((clock.now - 86_400 + 60) * 1000)
    assert points[-1].ts == int(clock.now * 1000)
    assert store.deal_count(5_000_001) == len(source.deals_between(0, clock.now))
    assert streamer.status().mt5 == "connected"


def test_only_changes_are_published_and_history_grows_per_change(store: Store) -> None:
    clock = Clock()
    _, streamer = demo_streamer(store, clock)
    streamer.step()
    stored = store.history_length(5_000_001)
    events = listen(store, 5_000_001)
    for _ in range(8):
        clock.tick()
        streamer.step()
    received = drain(events)
    accounts = [e for e in received if e["type"] == "account"]
    assert len(accounts) >= 6, "equity of the demo account moves at nearly every poll"
    assert all(e["account"] == 5_000_001 for e in received)
    assert [e["ts"] for e in accounts] == sorted(e["ts"] for e in accounts)
    assert store.history_length(5_000_001) == stored + len(accounts)
    assert not any(e["type"] == "deals" and e["data"] == [] for e in received)


def test_account_event_carries_its_history_point_time(store: Store) -> None:
    clock = Clock()
    _, streamer = demo_streamer(store, clock)
    events = listen(store, 5_000_001)
    streamer.step()
    account_event = next(e for e in drain(events) if e["type"] == "account")
    assert store.last_history_ts(5_000_001) == account_event["ts"]


def test_link_loss_reconnects_with_backoff(store: Store) -> None:
    clock = Clock()
    source, streamer = demo_streamer(store, clock)
    streamer.step()
    source.drop_link()
    clock.tick()
    streamer.step()
    status = streamer.status()
    assert status.mt5 == "reconnecting"
    assert status.mt5_error_code == -10004
    assert status.next_retry_ms == int((clock.now + 1.0) * 1000)
    clock.tick(0.5)
    streamer.step()
    assert streamer.status().failures == 1, "no retry before the backoff delay"
    clock.tick(0.6)
    streamer.step()
    assert streamer.status().failures == 2, "the terminal is still down: the retry failed"
    source.restore_link()
    clock.tick(2.1)
    streamer.step()
    assert streamer.status().mt5 == "connected"
    assert streamer.status().failures == 0


def test_redis_outage_buffers_history_and_deals_then_flushes_without_gap(
    store: Store, server: fakeredis.FakeServer
) -> None:
    clock = Clock()
    store.gate = RedisGate(clock=clock)
    _, streamer = demo_streamer(store, clock)
    streamer.step()
    stored_before = store.history_length(5_000_001)
    server.connected = False
    changes = 0
    for _ in range(20):
        clock.tick()
        before = streamer.latest()
        streamer.step()
        changes += streamer.latest().account != before.account
    assert streamer.status().redis == "down"
    assert streamer.status().mt5 == "connected", "polling goes on while Redis is down"
    assert streamer.status().pending_history == changes
    server.connected = True
    clock.tick()
    streamer.step()
    assert streamer.status().redis == "down", "Redis is tried again only after its backoff"
    clock.tick(8)
    streamer.step()
    assert streamer.status().redis == "up"
    assert streamer.status().pending_history == 0
    assert store.history_length(5_000_001) >= stored_before + changes


def test_disconnect_and_connect_commands_run_on_the_streamer_thread(store: Store) -> None:
    clock = Clock()
    _, streamer = demo_streamer(store, clock)
    streamer.step()
    done = streamer.request("disconnect")
    streamer.step()
    assert done.result(0)["mt5"] == "disconnected"
    polls = streamer.status().polls
    clock.tick(60)
    streamer.step()
    assert streamer.status().polls == polls, "a disconnected streamer does not poll or reconnect"
    done = streamer.request("connect")
    streamer.step()
    assert done.result(0)["mt5"] == "connected"
    with pytest.raises(ValueError, match="unknown command"):
        streamer.request("explode")


def test_heartbeat_every_interval(store: Store) -> None:
    clock = Clock()
    _, streamer = demo_streamer(store, clock)
    events = listen(store, 5_000_001)
    for _ in range(41):
        streamer.step()
        clock.tick()
    beats = [e for e in drain(events) if e["type"] == "heartbeat"]
    assert len(beats) == 3  # t = 0, 5, 10 s
    assert beats[0]["data"]["mt5"] == "connected"


def test_fake_mt5_outage_is_reported_and_heals_by_itself(store: Store) -> None:
    clock = Clock()
    fake = FakeMT5(login=777, clock=clock)
    fake.add_balance(clock.now - 3600, 5000.0)
    source = MT5Source(fake.module, login=777, password=None, server=None, path=None, clock=clock)
    streamer = Streamer(source, store, clock=clock, backoff=Backoff(1.0, 30.0, jitter=0))
    streamer.step()
    assert streamer.status().mt5 == "connected"
    fake.drop_link()
    clock.tick()
    streamer.step()
    assert streamer.status().mt5 == "reconnecting"
    assert streamer.status().mt5_error_code == -10004
    fake.restore_link()
    clock.tick(1.5)
    streamer.step()
    assert streamer.status().mt5 == "connected"
    assert fake.calls["shutdown"] >= 1 and fake.calls["initialize"] == 2


class LocalBridge:
    """An mt5linux client without the network: the bridge helper runs here, other calls go to the fake."""

    def __init__(self, module: Any) -> None:
        self._module = module
        self._namespace: dict[str, Any] = {}

    def execute(self, code: str) -> None:
        exec(code, self._namespace)

    def eval(self, code: str) -> Any:
        return eval(code, self._namespace)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def test_an_unreachable_bridge_is_retried_within_seconds_and_its_error_clears(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    fake = FakeMT5(login=779, clock=clock)
    fake.add_balance(clock.now - 3600, 5000.0)
    monkeypatch.setitem(sys.modules, "MetaTrader5", fake.module)
    up = False

    def connect() -> LocalBridge:
        if not up:
            raise ConnectionRefusedError(111, "Connection refused")
        return LocalBridge(fake.module)

    bridge = BridgeClient(connect, "127.0.0.1:18812", 18812)
    source = MT5Source(bridge, kind="mt5linux", login=779, password=None, server=None, path=None, clock=clock)
    streamer = Streamer(source, store, clock=clock, backoff=Backoff(1.0, 30.0, jitter=0))
    for _ in range(8):
        streamer.step()
        status = streamer.status()
        assert (status.mt5, status.mt5_error_code) == ("reconnecting", -10003)
        assert 0 < status.next_retry_ms / 1000 - clock.now <= 2.0, "a refused bridge is tried again within 2 s"
        clock.tick(2.0)
    assert streamer.status().failures == 8
    assert source.info.details["last_error"][0] == -10003
    up = True
    streamer.step()
    status = streamer.status()
    assert (status.mt5, status.mt5_error, status.mt5_error_code, status.failures) == ("connected", None, None, 0)
    assert source.info.details["last_error"] is None, "/mt5/status no longer shows the old error"
    assert store.snapshot(779)["account"]["balance"] == 10000.0


def test_terminal_without_broker_connection_counts_as_disconnected(store: Store) -> None:
    clock = Clock()
    fake = FakeMT5(login=778, clock=clock)
    source = MT5Source(fake.module, login=778, password=None, server=None, path=None, clock=clock)
    streamer = Streamer(source, store, clock=clock)
    streamer.step()
    fake.set_connected(False)
    clock.tick()
    streamer.step()
    assert streamer.status().mt5 == "reconnecting"
    assert "no connection to the trade server" in (streamer.status().mt5_error or "")


def test_thread_starts_and_stops_quickly(store: Store) -> None:
    source = DemoSource(seed=1)
    streamer = Streamer(source, store, poll_interval_s=0.05)
    streamer.start()
    try:
        deadline = __import__("time").monotonic() + 5
        while streamer.status().polls < 3 and __import__("time").monotonic() < deadline:
            __import__("time").sleep(0.02)
        assert streamer.status().polls >= 3
    finally:
        streamer.stop()
    assert not streamer.running
    assert streamer.status().mt5 == "stopped"


def test_history_never_jams_when_the_stream_is_ahead_of_this_clock(store: Store) -> None:
    clock = Clock()
    _, streamer = demo_streamer(store, clock)
    ahead_ms = int((clock.now + 3600) * 1000)
    store.client.xadd(store.keys.history(5_000_001), {"balance": "1"}, id=f"{ahead_ms}-0")
    for _ in range(4):
        streamer.step()
        clock.tick()
    assert streamer.status().redis == "up"
    assert streamer.status().pending_history == 0
    assert store.history_length(5_000_001) == 5
    assert store.deal_count(5_000_001) > 0
    assert len(store.history(5_000_001)) == 4, "the foreign, incomplete entry is skipped when reading"


def test_listeners_see_every_poll_and_cannot_break_the_stream(store: Store) -> None:
    clock = Clock()
    errors: list[BaseException] = []
    source = DemoSource(seed=3, clock=clock)
    streamer = Streamer(source, store, clock=clock, on_error=errors.append)
    seen: list[list[str]] = []

    def broken(snapshot: Any, kinds: list[str]) -> None:
        raise RuntimeError("consumer bug")

    streamer.add_listener(lambda snapshot, kinds: seen.append(kinds))
    streamer.add_listener(broken)
    for _ in range(3):
        streamer.step()
        clock.tick()
    assert len(seen) == 3 and "account" in seen[0] and "deals" in seen[0]
    assert len(errors) == 1 and streamer.status().polls == 3, "the same fault at every poll is told once"
    assert streamer.listener_errors() == ["RuntimeError: consumer bug"]


def test_deals_waiting_for_redis_are_bounded_and_the_newest_are_kept(
    store: Store, server: fakeredis.FakeServer
) -> None:
    clock = Clock()
    store.gate = RedisGate(clock=clock)
    fake = FakeMT5(login=780, clock=clock)
    source = MT5Source(fake.module, login=780, password=None, server=None, path=None, clock=clock)
    streamer = Streamer(source, store, clock=clock, buffer_points=3)
    streamer.step()
    server.connected = False
    tickets = []
    for _ in range(5):
        clock.tick()
        tickets.append(fake.add_deal(clock.now - 1))
        streamer.step()
    assert streamer.status().redis == "down"
    server.connected = True
    clock.tick(8)
    streamer.step()
    assert streamer.status().redis == "up"
    assert [deal.ticket for deal in store.deals(780)] == tickets[-3:]
