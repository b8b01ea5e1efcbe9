"""Nothing recorded is lost: the alert engine on a real archive, with Redis failing, wiped, stale or restarted."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError
from redis.exceptions import TimeoutError as RedisTimeoutError

from callbacks.alerts import editor_action
from layouts import ids
from services.core.models import Account, Snapshot
from services.ingest.sources.demo import DemoSource
from services.risk import engine
from services.risk.engine import AlertEngine
from services.risk.records import SavedRules
from services.risk.rules import DEFAULT_RULES, RulesSettings, parse_rules
from services.risk.wiring import RiskEngine
from services.storage.archive import FILE_NAME, Archive, ArchiveUnavailable, ArchiveWriter
from services.storage.redis_conn import real_client
from services.storage.store import Store
from tests.conftest import RedisServer
from tests.helpers import wait_until
from tests.unit.test_alerts import ACCOUNT, LOGIN, T0, Script

PAGE_RULES = parse_rules({"rules": [{"kind": "drawdown", "limit": 2}]})


WRITES = frozenset({"pipeline", "set", "hset", "hdel", "xadd", "publish"})


class WatchedRedis:
    """A Redis client that can be made to raise ``error`` (on ``only`` these commands), and remembers which
    threads called it."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.error: Exception | None = None
        self.only: frozenset[str] | None = None
        self.threads: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.threads.add(threading.current_thread().name)
            if self.error is not None and (self.only is None or name in self.only):
                raise self.error
            return attr(*args, **kwargs)

        return call


@pytest.fixture
def writers() -> Iterator[list[ArchiveWriter]]:
    started: list[ArchiveWriter] = []
    yield started
    for writer in started:
        writer.stop()


def archive_writer(path: Path, writers: list[ArchiveWriter]) -> ArchiveWriter:
    writer = ArchiveWriter(Archive(path / FILE_NAME), interval_s=0.05)
    writer.start()
    writers.append(writer)
    writer.call(lambda archive: None)  # opened and migrated
    return writer


def snapshot(ts: int, **fields: Any) -> Snapshot:
    return Snapshot(Account.from_mt5({**ACCOUNT, **fields}), (), (), ts, 7200)


def redis_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "services.risk.engine" and "Redis" in r.getMessage()]


@pytest.mark.parametrize(
    "failure",
    [RedisConnectionError("refused"), RedisTimeoutError("frozen"), OutOfMemoryError("OOM command not allowed")],
    ids=["down", "frozen", "full"],
)
def test_rules_are_evaluated_every_poll_without_touching_redis_while_it_fails(
    failure: Exception, tmp_path: Path, writers: list[ArchiveWriter], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "services.risk.engine")
    client = WatchedRedis(fakeredis.FakeRedis(decode_responses=True))
    writer = archive_writer(tmp_path, writers)
    engine = AlertEngine(Store(client, "t", 1000), DEFAULT_RULES, archive=writer)
    engine.start()
    try:
        now = [T0]

        def poll(**fields: Any) -> list[tuple[str, str]]:
            now[0] += 1000
            return [(a["rule"], a["state"]) for a in engine.evaluate(snapshot(now[0], **fields))]

        wait_until(lambda: poll(margin_level=300.0) == [] and engine.login == LOGIN, 15, "the account is loaded")
        client.error, client.threads = failure, set()
        client.only = WRITES if isinstance(failure, OutOfMemoryError) else None  # a full server still reads
        assert poll(margin_level=40.0) == [("margin_call", "breached"), ("stop_out", "warning")]
        assert poll(margin_level=25.0) == [("stop_out", "breached")]
        assert poll(margin_level=26.0) == [], "the state is kept: no repeat"
        assert threading.current_thread().name not in client.threads, "evaluation did no Redis I/O"

        health = wait_until(lambda: (h := engine.health())["state"] == "degraded" and h, 10, "degraded")
        assert health["pending"] >= 3 and health["error"]
        archived = writer.call(lambda archive: archive.alerts(LOGIN))
        assert [a["state"] for a in archived] == ["breached", "warning", "breached"], "every alert is archived"
        states = writer.call(lambda archive: archive.rule_states(LOGIN))
        assert json.loads(states["stop_out"])["state"] == "breached"
        assert [a["rule"] for a in engine.history(LOGIN)] == ["stop_out", "stop_out", "margin_call"], (
            "the history answers from the archive while Redis cannot"
        )

        client.error = None
        wait_until(lambda: engine.health()["state"] == "ok" and not engine.health()["pending"], 15, "written")
        stored = [json.loads(f["alert"])["id"] for _, f in client.real.xrange(f"t:{LOGIN}:alerts")]
        assert stored == [a["id"] for a in reversed(archived)], "Redis gets every alert once, in order"
        assert len(redis_messages(caplog)) == 2, "one line when writes stop, one when they resume"
    finally:
        engine.stop()


@pytest.mark.integration
def test_a_frozen_redis_does_not_slow_evaluation(
    redis_server: RedisServer, tmp_path: Path, writers: list[ArchiveWriter]
) -> None:
    """SIGSTOP: every Redis call hangs until its timeout; only the alerts-redis worker makes any."""
    client = WatchedRedis(real_client(redis_server.url))
    notified: list[dict[str, Any]] = []
    engine = AlertEngine(Store(client, "mt5", 1000), DEFAULT_RULES, archive=archive_writer(tmp_path, writers),
                         notify=notified.append)  # fmt: skip
    engine.start()
    now = [T0]

    def poll(**fields: Any) -> list[tuple[str, str]]:
        now[0] += 1000
        return [(a["rule"], a["state"]) for a in engine.evaluate(snapshot(now[0], **fields))]

    try:
        wait_until(lambda: poll(margin_level=300.0) == [] and engine.login == LOGIN, 15, "the account is loaded")
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        client.threads = set()
        assert poll(margin_level=40.0) == [("margin_call", "breached"), ("stop_out", "warning")]
        wait_until(lambda: "alerts-redis" in client.threads, 10, "the worker is stuck on the frozen server")
        for level in (41.0, 42.0, 43.0, 44.0):
            assert poll(margin_level=level) == []
        assert poll(margin_level=25.0) == [("stop_out", "breached")], "evaluated at every poll meanwhile"
        assert len(notified) == 3, "and the webhook got each alert at once"
        assert threading.current_thread().name not in client.threads
        wait_until(lambda: engine.health()["state"] == "degraded", 15, "the worker reports the timeout")
        os.kill(redis_server.process.pid, signal.SIGCONT)
        wait_until(lambda: engine.health()["state"] == "ok" and not engine.health()["pending"], 20, "all written")
        assert [a["state"] for a in engine.history(LOGIN)] == ["breached", "warning", "breached"]
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
        engine.stop()


@pytest.mark.integration
def test_rules_saved_are_still_in_force_after_flushall_and_redis_is_written_again(
    redis_server: RedisServer, tmp_path: Path, writers: list[ArchiveWriter]
) -> None:
    writer = archive_writer(tmp_path, writers)
    run = Script(DEFAULT_RULES, Store(redis_server.client(), "mt5", 1000), archive=writer)
    run.poll()
    assert run.engine.login == LOGIN, "an account the archive never saw, and Redis has nothing: the file's rules"
    run.engine.set_rules(LOGIN, PAGE_RULES)
    assert writer.archive.saved_rules(LOGIN).origin == "page", "on disk when set_rules returns"
    run.poll(equity=10_500.0)
    assert run.poll(equity=10_200.0) == [("drawdown", "ok", "breached")]
    first = run.engine.history(LOGIN)[0]
    run.engine.ack(LOGIN, first["id"])
    run.poll(equity=10_200.0)
    redis = redis_server.client()
    saved = redis.get(f"mt5:{LOGIN}:alerts:rules")
    assert SavedRules.from_json(saved).ruleset == run.engine.rules(LOGIN)

    redis.flushall()  # the private test server only
    for _ in range(3):  # past a recheck of the rules
        assert run.poll(equity=10_200.0) == [], "still breached: no repeat, and no revert to the margin rules"
        assert [row["id"] for row in run.engine.live_status()["rules"]] == ["drawdown"]
    assert redis.get(f"mt5:{LOGIN}:alerts:rules") == saved, "Redis has the page's rules again"
    assert json.loads(redis.hget(f"mt5:{LOGIN}:alerts:state", "drawdown"))["state"] == "breached"
    assert [a["id"] for a in run.engine.history(LOGIN)] == [first["id"]]
    assert redis.hget(f"mt5:{LOGIN}:alerts:acks", first["id"]) is not None, "the history and its ack are back"
    assert run.engine.history(LOGIN)[0]["acked_ms"] is not None


def test_a_reset_is_not_undone_by_a_stale_redis_copy(tmp_path: Path, writers: list[ArchiveWriter]) -> None:
    writer = archive_writer(tmp_path, writers)
    run = Script(DEFAULT_RULES, archive=writer)
    run.poll()
    run.engine.set_rules(LOGIN, PAGE_RULES)
    run.poll()
    stale = run.store.client.get(f"t:{LOGIN}:alerts:rules")
    assert SavedRules.from_json(stale).ruleset is not None
    assert run.engine.reset_rules(LOGIN) is DEFAULT_RULES
    assert writer.archive.saved_rules(LOGIN).origin == "reset", "the reset is a row of its own"
    run.poll()
    run.store.client.set(f"t:{LOGIN}:alerts:rules", stale)  # a Redis restored from an older dump
    for _ in range(3):
        run.poll()
        assert run.engine.rules(LOGIN) is DEFAULT_RULES
    assert SavedRules.from_json(run.store.client.get(f"t:{LOGIN}:alerts:rules")).origin == "reset", "Redis fixed"

    run.store.client.set(f"t:{LOGIN}:alerts:rules", stale)
    restarted = Script(DEFAULT_RULES, run.store, archive=writer)
    restarted.now_ms = run.now_ms
    restarted.poll()
    assert restarted.engine.rules(LOGIN) is DEFAULT_RULES, "a new engine reads the reset from the archive"
    assert restarted.engine.live_status()["source"] == "default"


def test_the_newest_save_wins_between_a_dashboard_and_the_collector(
    tmp_path: Path, writers: list[ArchiveWriter]
) -> None:
    """The dashboard mirroring a collector keeps no archive: it hands rules over through Redis."""
    writer = archive_writer(tmp_path, writers)
    collector = Script(DEFAULT_RULES, archive=writer)
    collector.poll()
    dashboard = AlertEngine(collector.store, DEFAULT_RULES, clock=lambda: collector.now_ms / 1000)

    dashboard.set_rules(LOGIN, PAGE_RULES)
    assert dashboard.rules(LOGIN).source == "page"
    collector.poll()
    collector.poll()  # past a recheck
    assert [rule.id for rule in collector.engine.rules(LOGIN).rules] == ["drawdown"], "the dashboard's save applies"
    wait_until(lambda: writer.archive.saved_rules(LOGIN), 5, "the collector archives it")

    collector.engine.set_rules(LOGIN, parse_rules({"rules": [{"kind": "drawdown", "limit": 3}]}), origin="api")
    collector.engine.worker.run_once()
    assert dashboard.rules(LOGIN).rules[0].limit == 3, "and the collector's newer save reaches the dashboard"

    dashboard.reset_rules(LOGIN)
    collector.poll()
    collector.poll()
    assert collector.engine.rules(LOGIN) is DEFAULT_RULES
    wait_until(lambda: writer.archive.saved_rules(LOGIN).origin == "reset", 5, "the collector archives the reset")


def test_a_rule_save_the_archive_does_not_take_changes_nothing(tmp_path: Path, writers: list[ArchiveWriter]) -> None:
    writer = ArchiveWriter(Archive(tmp_path / FILE_NAME, busy_timeout_ms=50), interval_s=0.05)
    writer.start()
    writers.append(writer)
    writer.call(lambda archive: None)
    run = Script(DEFAULT_RULES, archive=writer)
    run.poll()
    risk = RiskEngine(run.engine, RulesSettings())
    blocker = sqlite3.connect(tmp_path / FILE_NAME)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        _, _, message = editor_action(ids.RULES_SAVE, "rules:\n  - kind: drawdown\n    limit: 3\n", {}, risk, LOGIN)
        assert message.startswith("Not saved: the archive did not take it (") and "locked" in message
        with pytest.raises(ArchiveUnavailable):
            run.engine.reset_rules(LOGIN)
    finally:
        blocker.rollback()
        blocker.close()
    run.poll()
    assert run.engine.rules(LOGIN) is DEFAULT_RULES and run.store.client.get(f"t:{LOGIN}:alerts:rules") is None
    assert writer.archive.saved_rules(LOGIN) is None


def test_an_account_the_archive_never_saw_takes_the_rules_and_state_redis_kept(
    tmp_path: Path, writers: list[ArchiveWriter]
) -> None:
    """Rules saved before the archive kept them are not reverted by the upgrade."""
    store = Store(fakeredis.FakeRedis(decode_responses=True), "t", 1000)
    store.client.set(f"t:{LOGIN}:alerts:rules", json.dumps(PAGE_RULES.to_dict()))  # the form before saved times
    store.client.hset(f"t:{LOGIN}:alerts:state", "drawdown", json.dumps({"kind": "drawdown", "state": "breached",
                                                                        "peak": 10_500.0}))  # fmt: skip
    writer = archive_writer(tmp_path, writers)
    run = Script(DEFAULT_RULES, store, archive=writer)
    assert run.poll(equity=10_200.0) == [], "the breach Redis remembered does not fire again"
    assert run.engine.rules(LOGIN).source == "page"
    archived = wait_until(lambda: writer.archive.rule_states(LOGIN), 5, "the state is archived")
    assert json.loads(archived["drawdown"])["peak"] == 10_500.0
    assert SavedRules.from_row(wait_until(lambda: writer.archive.saved_rules(LOGIN), 5, "rules")).ruleset == PAGE_RULES


def test_an_account_the_archive_never_saw_is_evaluated_even_when_redis_never_answers(
    tmp_path: Path, writers: list[ArchiveWriter]
) -> None:
    client = WatchedRedis(fakeredis.FakeRedis(decode_responses=True))
    client.error = RedisConnectionError("refused")
    run = Script(DEFAULT_RULES, Store(client, "t", 1000), archive=archive_writer(tmp_path, writers))
    polls = engine.FIRST_LOAD_WAIT_MS // 1000
    assert [run.poll(margin_level=40.0) for _ in range(polls)] == [[]] * polls, "Redis may have saved rules: wait"
    assert run.poll(margin_level=40.0) == [("margin_call", "ok", "breached"), ("stop_out", "ok", "warning")]


def test_a_restart_with_embedded_redis_keeps_rules_state_acks_and_history(make_app: Any, tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path), "POLL_INTERVAL_MS": "100"}
    rules = {"rules": [{"id": "floor", "kind": "max_loss", "limit": 1, "unit": "money", "initial_balance": 1e7}]}
    first = make_app(env, source=DemoSource(seed=5))
    client = first.server.test_client()
    wait_until(lambda: client.get("/rules").get_json()["status"], 10, "the rules are evaluated")
    assert client.put("/rules", json=rules).get_json()["source"] == "api"
    floor = {"rule": "floor"}
    alert = wait_until(lambda: client.get("/alerts", query_string=floor).get_json()["alerts"], 10, "the breach")[0]
    assert (alert["rule"], alert["state"]) == ("floor", "breached")
    acked = client.post(f"/alerts/{alert['id']}/ack").get_json()["acked_ms"]
    health = client.get("/health").get_json()
    assert health["alerts"]["state"] == "ok" and health["alerts"]["worker"]["alive"]
    first.server.extensions["mt5_runtime"].stop()

    second = make_app(env, source=DemoSource(seed=5))  # a new process: a new, empty embedded Redis
    client = second.server.test_client()
    body = wait_until(lambda: (b := client.get("/rules").get_json())["status"] and b, 10, "evaluated")
    assert body["source"] == "api" and [(r["id"], r["kind"]) for r in body["ruleset"]["rules"]] == [
        ("floor", "max_loss")
    ]
    assert body["status"][0]["state"] == "breached"
    runtime = second.server.extensions["mt5_runtime"]
    polls = runtime.streamer.status().polls
    wait_until(lambda: runtime.streamer.status().polls >= polls + 5, 10, "five more polls")
    assert client.get("/alerts", query_string=floor).get_json()["alerts"] == [{**alert, "acked_ms": acked}], (
        "the history and its acknowledgement survived, and the persisting breach did not fire again"
    )


def test_health_turns_degraded_with_a_degraded_section(make_app: Any) -> None:
    app = make_app({"POLL_INTERVAL_MS": "100"}, source=DemoSource(seed=5))
    runtime = app.server.extensions["mt5_runtime"]
    client = app.server.test_client()
    wait_until(lambda: client.get("/health").get_json()["status"] == "ok", 10, "healthy")
    runtime.add_health("alerts", lambda: {"state": "degraded", "pending": 3})
    body = client.get("/health").get_json()
    assert body["status"] == "degraded" and body["alerts"]["pending"] == 3
