"""The fan-out: bounded per-client queues, subscription on the embedded Redis, clean stop."""

from __future__ import annotations

import json
import threading
import time

import fakeredis

from services.core.protocol import Message
from services.live.fanout import ClientQueue, Fanout
from services.storage.store import Keys

KEYS = Keys("mt5")


def wait_for(queue: ClientQueue, count: int, timeout: float = 3.0) -> list[Message]:
    received: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        received += queue.take(0.05)
    return received


def test_a_slow_client_loses_its_oldest_messages_only() -> None:
    queue = ClientQueue(maxlen=3)
    for i in range(5):
        queue.put(str(i))
    assert queue.take(0) == ["2", "3", "4"]
    assert queue.dropped == 2


def test_take_wakes_on_put_and_on_close() -> None:
    queue = ClientQueue(maxlen=3)
    threading.Timer(0.05, queue.put, args=("x",)).start()
    started = time.monotonic()
    assert queue.take(2.0) == ["x"]
    assert time.monotonic() - started < 1.0
    threading.Timer(0.05, queue.close).start()
    assert queue.take(2.0) == []
    assert queue.closed


def test_messages_of_every_account_reach_every_client_in_order() -> None:
    client = fakeredis.FakeRedis(decode_responses=True)
    fanout = Fanout(client, KEYS.events_pattern(), login_of_channel=KEYS.login_of_events, max_clients=2, queue_size=100)
    fanout.start()
    try:
        fast, slow = fanout.register(), fanout.register()
        deadline = time.monotonic() + 3
        while not fanout.redis_up and time.monotonic() < deadline:
            time.sleep(0.01)
        for i in range(10):
            client.publish(KEYS.events(1 + i % 2), json.dumps({"type": "account", "n": i}))
        received = wait_for(fast, 10)
        assert [json.loads(m.text)["n"] for m in received] == list(range(10))
        assert [m.account for m in received] == [1, 2] * 5, "the account comes from the channel"
        assert all(m.kind == "account" for m in received), "parsed once, here"
        assert len(wait_for(slow, 10)) == 10
        assert fanout.client_count() == 2
        fanout.unregister(slow)
        assert fanout.client_count() == 1
    finally:
        fanout.stop()
    assert fast.closed


def test_clients_over_the_cap_are_refused_and_counted() -> None:
    fanout = Fanout(fakeredis.FakeRedis(decode_responses=True), "mt5:*:events", login_of_channel=KEYS.login_of_events,
                    max_clients=2)  # fmt: skip
    first, second = fanout.register(), fanout.register()
    assert first is not None and second is not None
    assert fanout.register() is None and fanout.refused == 1
    fanout.unregister(first)
    assert fanout.register() is not None, "a slot frees when a client leaves"
    assert (fanout.client_count(), fanout.refused) == (2, 1)


def test_a_client_registering_during_shutdown_is_closed_at_once() -> None:
    fanout = Fanout(fakeredis.FakeRedis(decode_responses=True), "mt5:*:events", login_of_channel=KEYS.login_of_events,
                    max_clients=1)  # fmt: skip
    fanout.stop()
    queue = fanout.register()
    assert queue is not None and queue.closed


def test_redis_loss_is_told_to_clients_directly() -> None:
    server = fakeredis.FakeServer()
    fanout = Fanout(fakeredis.FakeRedis(server=server, decode_responses=True), "mt5:*:events",
                    login_of_channel=KEYS.login_of_events, max_clients=1)  # fmt: skip
    fanout.start()
    queue = fanout.register()
    try:
        deadline = time.monotonic() + 3
        while not fanout.redis_up and time.monotonic() < deadline:
            time.sleep(0.01)
        server.connected = False
        statuses = [json.loads(m.text) for m in wait_for(queue, 1)]
        assert statuses and statuses[0]["type"] == "status" and statuses[0]["data"]["redis"] == "down"
        server.connected = True
        back = [json.loads(m.text) for m in wait_for(queue, 1, timeout=8)]
        assert back and back[0]["data"]["redis"] == "up"
    finally:
        fanout.stop()
