"""At-least-once alert delivery: an endpoint that answers garbage, 500s, nothing or refuses gets every alert once
it recovers; undelivered alerts outlive a restart; the outbox is bounded; /health says when alerts are late."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from sqlalchemy import select

from services.core.backoff import Backoff
from services.ingest.sources.demo import DemoSource
from services.ingest.streamer import Streamer
from services.risk import webhook
from services.risk.webhook import WebhookSender
from services.storage.archive import FILE_NAME, Archive, ArchiveWriter
from services.storage.archive.schema import webhook_outbox
from services.storage.store import Store
from tests.conftest import free_port
from tests.fakes.webhook_endpoint import Endpoint
from tests.helpers import wait_until

pytestmark = pytest.mark.integration

LOGIN = 7_001
QUICK = Backoff(base_s=0.01, cap_s=0.05, jitter=0)
RULES = """\
rules:
  - id: margin_high
    kind: margin_level
    limit: 5000
  - id: busy
    kind: exposure
    metric: positions
    limit: 1
"""  # the demo account (seed 11) breaks both at its first poll: margin level 1,845 %, five positions


class Clock:
    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def alert_event(n: int) -> dict[str, Any]:
    """An alert event as the engine hands it to the webhook (the shape /ws carries)."""
    alert = {"id": f"{1_000 + n}-rule", "rule": "rule", "state": "breached", "ts": 1_000 + n}
    return {"type": "alert", "account": LOGIN, "ts": 1_000 + n, "data": alert}


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[ArchiveWriter]:
    writer = ArchiveWriter(Archive(tmp_path / FILE_NAME), interval_s=0.05)
    writer.start()
    writer.call(lambda archive: None)  # opened
    yield writer
    writer.stop()


def flush(writer: ArchiveWriter) -> None:
    """Everything submitted so far is written (a call runs after what waits)."""
    writer.call(lambda archive: None)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == webhook.__name__ and r.levelno >= logging.WARNING]


def test_every_alert_arrives_in_order_once_the_endpoint_stops_refusing_and_answering_garbage(
    writer: ArchiveWriter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    port = free_port()  # nothing listens there yet: connections are refused
    clock = Clock()
    sender = WebhookSender(f"http://127.0.0.1:{port}/hook", writer, lambda: LOGIN, late_after_s=30, backoff=QUICK,
                           timeout_s=0.5, clock=clock)  # fmt: skip
    sender.start()
    endpoint: Endpoint | None = None
    try:
        for n in range(5):
            sender.put(alert_event(n))
        wait_until(lambda: sender.failed >= 5 and sender.health()["pending"] == 5, 10, "refused attempts")
        health = sender.health()
        assert (health["state"], health["error"], health["oldest_pending_age_s"]) == ("ok", "ConnectionRefusedError", 0)
        clock.now += 31
        health = sender.health()
        assert health["state"] == "degraded" and health["oldest_pending_age_s"] == 31, "late past the threshold"
        assert health["alive"] and sender.worker.state == "ok", "the thread goes on"

        endpoint = Endpoint(["garbage", "500", "hang", "close", "500"], port=port)
        expected = [f"{1_000 + n}-rule" for n in range(5)]
        wait_until(lambda: endpoint.ids() == expected, 30, "every alert, in order")
        assert endpoint.answered == ["garbage", "500", "hang", "close", "500", *["200"] * 5]
        assert [request["key"] for request in endpoint.accepted] == [f"{LOGIN}-{id_}" for id_ in expected]
        wait_until(lambda: sender.health()["pending"] == 0, 10, "the deliveries recorded")
        health = sender.health()
        assert (health["state"], health["error"], health["sent"]) == ("ok", None, 5)
        assert health["failed"] >= 10
        kinds = ["ConnectionRefusedError", "BadStatusLine", "HTTP 500", "TimeoutError", "RemoteDisconnected"]
        kinds.append("HTTP 500")
        assert warnings(caplog) == [
            f"alert webhook to 127.0.0.1:{port} failed ({kind}); alerts wait in the archive, retried with backoff"
            for kind in kinds
        ], "one line when the failure changes, not one per attempt"
        flush(writer)
        with writer.archive.engine.connect() as conn:
            rows = conn.execute(select(webhook_outbox.c.delivered_ms, webhook_outbox.c.attempts)).all()
        assert len(rows) == 5 and all(delivered is not None for delivered, _ in rows), "each marked delivered"
        assert rows[0].attempts == health["failed"] + 1, "the first alert took every failed attempt, and its delivery"
    finally:
        sender.stop()
        if endpoint is not None:
            endpoint.stop()


def test_the_outbox_keeps_the_newest_alerts_up_to_its_cap_with_one_warning(
    writer: ArchiveWriter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    port = free_port()
    sender = WebhookSender(f"http://127.0.0.1:{port}/hook", writer, lambda: LOGIN, cap=3, backoff=QUICK, timeout_s=0.5)
    for n in range(5):
        sender.put(alert_event(n))
        flush(writer)  # each one in the outbox: the cap is the archive's, not only the writer's buffer
    sender.worker.run_once()  # stepped here, no thread: trims, then the endpoint refuses
    assert (sender.health()["pending"], sender.dropped) == (3, 2)
    for n in range(5, 7):
        sender.put(alert_event(n))
        flush(writer)
    sender.worker.run_once()
    assert (sender.health()["pending"], sender.dropped) == (3, 4)
    assert warnings(caplog) == [
        "alert webhook: more than 3 alerts undelivered; the oldest are dropped",
        f"alert webhook to 127.0.0.1:{port} failed (ConnectionRefusedError); alerts wait in the archive, retried "
        "with backoff",
    ], "one warning for the overflow, however long it lasts"

    endpoint = Endpoint(port=port)
    try:
        sender.worker.run_once()
        assert endpoint.ids() == ["1004-rule", "1005-rule", "1006-rule"], "the newest three, oldest first"
        flush(writer)
        sender.worker.run_once()
        assert sender.health()["pending"] == 0 and sender.health()["dropped"] == 4
    finally:
        endpoint.stop()

    idle = ArchiveWriter(Archive(writer.archive.path.with_name("idle.sqlite")))  # never started: its buffer only
    capped = WebhookSender("http://127.0.0.1:9/hook", idle, lambda: LOGIN, cap=2)
    for n in range(3):
        capped.put(alert_event(n))
    assert (capped.dropped, idle.webhook_waiting()) == (1, 2), "the writer's buffer keeps the newest two as well"


def test_undelivered_alerts_are_sent_after_a_restart(make_app: Any, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    endpoint = Endpoint(default="500")
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "RULES_FILE": str(rules),
        "ALERT_WEBHOOK_URL": endpoint.url,
        "POLL_INTERVAL_MS": "100",
    }
    try:
        first = make_app(env, source=DemoSource(seed=11))
        client = first.server.test_client()
        wait_until(lambda: client.get("/health").get_json()["webhook"]["pending"] == 2, 20, "two alerts recorded")
        wait_until(lambda: len(endpoint.answered) >= 2, 10, "attempts answered 500")
        assert client.get("/health").get_json()["webhook"]["error"] == "HTTP 500"
        first.server.extensions["mt5_runtime"].stop()
        assert endpoint.accepted == []

        endpoint.default = "200"
        second = make_app(env, source=DemoSource(seed=11))
        wait_until(lambda: len(endpoint.accepted) >= 2, 20, "both alerts delivered after the restart")
        delivered = {request["body"]["data"]["rule"] for request in endpoint.accepted}
        assert delivered == {"margin_high", "busy"}
        assert all(request["key"] == f"5000001-{request['body']['data']['id']}" for request in endpoint.accepted)
        client = second.server.test_client()
        health = wait_until(lambda: (h := client.get("/health").get_json())["webhook"]["pending"] == 0 and h, 10,
                            "marked delivered")  # fmt: skip
        assert health["webhook"]["state"] == "ok" and health["threads"]["alert-webhook"]["state"] == "ok"
        assert health["webhook"]["sent"] == len(endpoint.accepted)
    finally:
        endpoint.stop()


def test_only_the_process_that_polls_the_account_sends_its_alerts(writer: ArchiveWriter) -> None:
    polled: list[int | None] = [None]  # another process polls the account (this one follows)
    endpoint = Endpoint()
    sender = WebhookSender(endpoint.url, writer, lambda: polled[0], backoff=QUICK)
    try:
        sender.put(alert_event(1))  # recorded by the process that polled then (a leader since gone, say)
        flush(writer)
        sender.worker.run_once()
        assert endpoint.answered == [] and sender.health()["sending"] is False
        polled[0] = LOGIN  # this process leads now: it sends what waits
        sender.worker.run_once()
        assert endpoint.ids() == ["1001-rule"] and sender.health()["sending"] is True
    finally:
        endpoint.stop()

    store = Store(fakeredis.FakeRedis(decode_responses=True), "t", 1000)
    mirror = Streamer(DemoSource(seed=3), store, login_hint=LOGIN, follow_only=True)
    single = Streamer(DemoSource(seed=3), store, login_hint=LOGIN)
    assert (mirror.owned_login(), single.owned_login()) == (None, LOGIN), "a mirror of a collector never sends"
