"""Scripted account snapshots through the alert engine: each limit fires once, holds, and clears past hysteresis."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

import fakeredis
import pytest

from callbacks.alerts import editor_action
from layouts import ids
from layouts.alerts import HIDDEN, distance_text, duration, rule_row
from services.core.brokertime import fixed, parse_zone
from services.core.models import Account, HistoryPoint, Position, Snapshot
from services.risk import records
from services.risk.engine import AlertEngine
from services.risk.evaluate import day_bounds
from services.risk.rules import DEFAULT_RULES, RulesSettings, parse_rules
from services.risk.wiring import RiskEngine
from services.storage.archive import ArchiveWriter
from services.storage.redis_conn import RedisGate
from services.storage.store import Store
from tests.conftest import RedisServer
from views.alerts import frame_updates

LOGIN = 7_001
ACCOUNT = {
    "login": LOGIN, "trade_mode": 0, "leverage": 100, "limit_orders": 200, "margin_so_mode": 0,
    "trade_allowed": True, "trade_expert": True, "margin_mode": 2, "currency_digits": 2, "fifo_close": False,
    "balance": 10_000.0, "credit": 0.0, "profit": 0.0, "equity": 10_000.0, "margin": 1_000.0,
    "margin_free": 9_000.0, "margin_level": 1_000.0, "margin_so_call": 50.0, "margin_so_so": 30.0,
    "margin_initial": 0.0, "margin_maintenance": 0.0, "assets": 0.0, "liabilities": 0.0,
    "commission_blocked": 0.0, "name": "Trader", "server": "Broker-Demo", "currency": "USD", "company": "Broker",
}  # fmt: skip
T0 = int(datetime(2026, 3, 2, 12, tzinfo=UTC).timestamp() * 1000)


def utc_ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp() * 1000)


def position(symbol: str, volume: float, ticket: int) -> Position:
    fields = {name: 0 for name in Position.mt5_fields()}
    fields.update(ticket=ticket, symbol=symbol, volume=volume, comment="", external_id="")
    return Position.from_mt5(fields, 0)


def next_message(pubsub: Any, timeout: float = 2.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None and message["type"] == "message":
            return message
    raise AssertionError("nothing published")


class Script:
    """Feeds an engine one scripted snapshot at a time; the clock follows the snapshots.

    The engine's ``alerts-redis`` worker is stepped here after each poll instead of on its thread, so
    what reaches Redis is known when ``poll`` returns. No archive unless one is given.
    """

    def __init__(
        self, rules: Any, store: Store | None = None, offset_s: int = 7200, archive: ArchiveWriter | None = None
    ) -> None:
        self.store = store or Store(fakeredis.FakeRedis(decode_responses=True), "t", 1000)
        self.notified: list[dict[str, Any]] = []
        self.now_ms = T0
        self.offset_s = offset_s
        ruleset = rules if hasattr(rules, "rules") else parse_rules({"rules": rules})
        self.engine = AlertEngine(
            self.store, ruleset, archive=archive, notify=self.notified.append, clock=lambda: self.now_ms / 1000
        )

    def poll(
        self, ts: int | None = None, positions: tuple[Position, ...] = (), **fields: Any
    ) -> list[tuple[str, str, str]]:
        """One poll; returns (rule, previous, state) of each alert it raised."""
        self.now_ms = ts if ts is not None else self.now_ms + 1000
        account = Account.from_mt5({**ACCOUNT, **fields})
        snapshot = Snapshot(account, positions, (), self.now_ms, self.offset_s)
        fired = self.engine.evaluate(snapshot, ["account"])
        if self.engine.login is None:  # without an archive the first evaluation waits for Redis's copy
            self.engine.worker.run_once()
            fired = self.engine.evaluate(snapshot, ["account"])
        self.engine.worker.run_once()
        return [(a["rule"], a["previous"], a["state"]) for a in fired]

    def row(self, rule_id: str) -> dict[str, Any]:
        return next(r for r in self.engine.live_status()["rules"] if r["id"] == rule_id)


def test_margin_level_warns_at_twice_the_margin_call_fires_once_and_clears_past_hysteresis() -> None:
    run = Script(DEFAULT_RULES)
    assert run.poll(margin_level=300.0) == []
    assert run.poll(margin_level=90.0) == [("margin_call", "ok", "warning")]
    assert run.poll(margin_level=80.0) == [], "still in warning: no second alert"
    assert run.poll(margin_level=46.0) == [("margin_call", "warning", "breached")]
    assert run.poll(margin_level=48.0) == []
    assert run.poll(margin_level=52.0) == [], "back above the limit, but not by the 5-point hysteresis"
    assert run.poll(margin_level=54.9) == []
    assert run.poll(margin_level=56.0) == [("margin_call", "breached", "warning")]
    assert run.poll(margin_level=104.0) == []
    assert run.poll(margin_level=106.0) == [("margin_call", "warning", "ok")]
    assert [a["data"]["state"] for a in run.notified] == ["warning", "breached", "warning", "ok"]
    history = run.engine.history(LOGIN)
    assert [a["state"] for a in history] == ["ok", "warning", "breached", "warning"], "newest first, each once"


def test_stop_out_proximity_and_no_margin_in_use() -> None:
    run = Script(DEFAULT_RULES)
    assert run.poll(margin_level=44.0) == [("margin_call", "ok", "breached"), ("stop_out", "ok", "warning")]
    assert run.poll(margin_level=29.0) == [("stop_out", "warning", "breached")]
    row = run.row("stop_out")
    assert (row["value"], row["limit"], row["warn"], row["unit"]) == (29.0, 30.0, 45.0, "%")
    assert row["distance"] == pytest.approx(-1.0) and row["floor"] == pytest.approx(300.0)
    fired = run.poll(margin=0.0, margin_level=0.0)
    assert fired == [("margin_call", "breached", "ok"), ("stop_out", "breached", "ok")], "no positions: no margin risk"
    assert run.row("margin_call")["detail"] == "no margin in use"
    assert run.engine.history(LOGIN, limit=1)[0]["message"] == "Stop-out proximity cleared: no margin in use"


def test_margin_rules_in_money_mode_watch_the_free_margin() -> None:
    run = Script(DEFAULT_RULES)
    fields = {"margin_so_mode": 1, "margin_so_call": 500.0, "margin_so_so": 200.0}
    assert run.poll(margin_free=2_000.0, **fields) == []
    assert run.poll(margin_free=900.0, **fields) == [("margin_call", "ok", "warning")]
    assert run.poll(margin_free=450.0, **fields) == [("margin_call", "warning", "breached")]
    assert run.row("margin_call")["unit"] == "USD"


def test_drawdown_from_the_equity_peak_in_percent() -> None:
    run = Script([{"kind": "drawdown", "limit": 10}])
    assert run.poll(equity=10_500.0) == []
    assert run.poll(equity=9_600.0) == [("drawdown", "ok", "warning")]  # 8.57 % from the 10,500 peak
    assert run.poll(equity=9_400.0) == [("drawdown", "warning", "breached")]
    assert run.poll(equity=9_350.0) == []
    assert run.poll(equity=9_500.0) == [], "9.52 %: under the limit but not by the 1-point hysteresis"
    assert run.poll(equity=9_560.0) == [("drawdown", "breached", "warning")]
    assert run.poll(equity=9_700.0) == []
    assert run.poll(equity=9_800.0) == [("drawdown", "warning", "ok")]
    row = run.row("drawdown")
    assert row["floor"] == pytest.approx(9_450.0) and row["distance"] == pytest.approx(10 - 700 / 105)
    assert row["used"] == pytest.approx((700 / 105) / 10)


def test_drawdown_in_money() -> None:
    run = Script([{"kind": "drawdown", "limit": 500, "unit": "money", "warn": 300, "hysteresis": 50}])
    assert run.poll(equity=10_000.0) == []
    assert run.poll(equity=9_650.0) == [("drawdown", "ok", "warning")]
    assert run.poll(equity=9_490.0) == [("drawdown", "warning", "breached")]
    assert run.poll(equity=9_540.0) == []
    assert run.poll(equity=9_560.0) == [("drawdown", "breached", "warning")]
    assert run.row("drawdown")["unit"] == "USD"


def test_max_loss_static_and_trailing() -> None:
    run = Script(
        [
            {"id": "static", "kind": "max_loss", "limit": 10},
            {"id": "trailing", "kind": "max_loss", "limit": 10, "mode": "trailing"},
        ]
    )
    assert run.poll() == []
    assert run.poll(equity=11_000.0) == []
    assert run.row("static")["floor"] == pytest.approx(9_000.0)
    assert run.row("trailing")["floor"] == pytest.approx(10_000.0), "the floor trails the equity peak"
    assert run.poll(equity=9_990.0) == [("trailing", "ok", "breached")]
    assert run.poll(equity=8_950.0, balance=8_950.0) == [("static", "ok", "breached")]


def test_max_loss_with_an_explicit_initial_balance_in_money() -> None:
    run = Script([{"kind": "max_loss", "limit": 1_000, "unit": "money", "initial_balance": 12_000}])
    assert run.poll(equity=11_000.0) == [("max_loss", "ok", "breached")], "12,000 - 1,000: at the floor"


def test_profit_target_is_reached_once() -> None:
    run = Script([{"kind": "profit_target", "limit": 10, "measure": "balance"}])
    assert run.poll() == []
    assert run.poll(balance=10_950.0, equity=10_950.0) == [("profit_target", "ok", "warning")]
    assert run.poll(balance=11_000.0, equity=11_000.0) == [("profit_target", "warning", "breached")]
    assert run.poll(balance=11_000.0, equity=10_500.0) == [], "measured on the balance"
    assert run.engine.history(LOGIN, limit=1)[0]["message"] == "Profit target reached: 10.00% (limit 10.00%)"


def test_exposure_limits_positions_lots_and_lots_per_symbol() -> None:
    run = Script(
        [
            {"id": "positions", "kind": "exposure", "metric": "positions", "limit": 3},
            {"id": "lots", "kind": "exposure", "metric": "lots", "limit": 3},
            {"id": "per_symbol", "kind": "exposure", "metric": "symbol_lots", "limit": 1.5},
        ]
    )
    three = (position("EURUSD", 1.0, 1), position("EURUSD", 0.5, 2), position("XAUUSD", 0.5, 3))
    assert run.poll(positions=three) == [("positions", "ok", "warning"), ("per_symbol", "ok", "warning")]
    four = (*three, position("EURUSD", 0.2, 4))
    assert run.poll(positions=four) == [("positions", "warning", "breached"), ("per_symbol", "warning", "breached")]
    assert run.row("per_symbol")["detail"] == "EURUSD" and run.row("per_symbol")["value"] == pytest.approx(1.7)
    assert run.row("lots")["state"] == "ok" and run.row("lots")["value"] == pytest.approx(2.2)
    assert run.poll(positions=three) == [("positions", "breached", "warning"), ("per_symbol", "breached", "warning")]
    assert run.poll(positions=three[:1]) == [("positions", "warning", "ok"), ("per_symbol", "warning", "ok")]


def test_day_bounds_follow_daylight_saving_in_the_configured_zone() -> None:
    new_york = ZoneInfo("America/New_York")
    # spring forward (2026-03-08): the day from Saturday 17:00 EST to Sunday 17:00 EDT lasts 23 h
    start, end = day_bounds(utc_ms(2026, 3, 8, 12), clock_time(17), new_york)
    assert (start, end) == (utc_ms(2026, 3, 7, 22), utc_ms(2026, 3, 8, 21))
    # fall back (2026-11-01): 25 h
    start, end = day_bounds(utc_ms(2026, 11, 1, 12), clock_time(17), new_york)
    assert (start, end) == (utc_ms(2026, 10, 31, 21), utc_ms(2026, 11, 1, 22))
    # broker server time, midnight: the zone is the broker's clock, with its daylight saving
    rule = parse_rules({"rules": [{"kind": "daily_loss", "limit": 5}]}).rules[0]
    start, end = day_bounds(utc_ms(2026, 3, 8, 20, 59), clock_time(0), rule.zone(fixed(7200)))
    assert (start, end) == (utc_ms(2026, 3, 7, 22), utc_ms(2026, 3, 8, 22))
    # New York close: UTC+2 until the US change, UTC+3 after, so that broker day lasts 23 h
    start, end = day_bounds(utc_ms(2026, 3, 8, 20, 59), clock_time(0), rule.zone(parse_zone("ny-close")))
    assert (start, end) == (utc_ms(2026, 3, 7, 22), utc_ms(2026, 3, 8, 21))


def test_daily_loss_resets_at_17_00_new_york_across_the_dst_change() -> None:
    rule = {"kind": "daily_loss", "limit": 5, "reset": "17:00", "timezone": "America/New_York"}
    run = Script([rule])
    assert run.poll(utc_ms(2026, 3, 7, 23)) == []
    assert run.row("daily_loss")["reset_in_s"] == 22 * 3600, "Sunday's 17:00 is already EDT: 22 h, not 23 h"
    assert run.poll(utc_ms(2026, 3, 8, 12), equity=9_480.0) == [("daily_loss", "ok", "breached")]
    assert run.row("daily_loss")["floor"] == pytest.approx(9_500.0)
    assert run.poll(utc_ms(2026, 3, 8, 20, 59, 59), equity=9_480.0) == [], "16:59:59 EDT: the same day"
    assert run.poll(utc_ms(2026, 3, 8, 21), balance=9_480.0, equity=9_480.0) == [("daily_loss", "breached", "ok")]
    assert run.row("daily_loss")["value"] == pytest.approx(0.0), "the new day opened at 9,480"
    assert run.row("daily_loss")["reset_in_s"] == 24 * 3600


def test_daily_loss_at_broker_midnight_on_the_higher_of_balance_and_equity() -> None:
    run = Script([{"kind": "daily_loss", "limit": 300, "unit": "money", "basis": "max_balance_equity"}])
    assert run.poll(utc_ms(2026, 3, 4, 22, 0, 1), equity=10_400.0) == [], "00:00:01 server time (UTC+2)"
    assert run.poll(utc_ms(2026, 3, 5, 9), equity=10_150.0) == [("daily_loss", "ok", "warning")]
    assert run.poll(utc_ms(2026, 3, 5, 10), equity=10_100.0) == [("daily_loss", "warning", "breached")]
    assert run.row("daily_loss")["detail"] == "day opened at 10,400.00 USD"
    assert run.poll(utc_ms(2026, 3, 5, 22), equity=10_100.0, balance=10_100.0) == [("daily_loss", "breached", "ok")]


def test_daily_loss_started_mid_day_opens_from_the_stored_history() -> None:
    """Without an archive, Redis's history gives the opening, read by the worker, not the streamer thread."""
    run = Script([{"kind": "daily_loss", "limit": 5}])
    run.store.append_history(LOGIN, [HistoryPoint(utc_ms(2026, 3, 4, 21, 50), 10_500.0, 10_520.0, 0.0, 0.0, 0.0)])
    assert run.poll(utc_ms(2026, 3, 5, 9), balance=10_000.0, equity=9_970.0) == [], "opened at this poll until then"
    assert run.poll(balance=10_000.0, equity=9_970.0) == [("daily_loss", "ok", "breached")]
    assert run.row("daily_loss")["detail"] == "day opened at 10,500.00 USD"


def test_alerts_are_published_for_the_websocket_and_stored_once() -> None:
    run = Script(DEFAULT_RULES)
    pubsub = run.store.client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"t:{LOGIN}:events")
    run.poll(margin_level=40.0)
    published = json.loads(next_message(pubsub)["data"])
    assert published["type"] == "alert" and published["account"] == LOGIN
    assert published["data"]["rule"] == "margin_call" and published["data"]["state"] == "breached"
    assert published["data"]["message"] == "Margin level breached: 40.00% (limit 50.00%)"
    assert run.notified[0] == published, "the webhook gets the same event as /ws"
    assert len(run.engine.history(LOGIN)) == 2


def test_history_filters_and_acknowledgement() -> None:
    run = Script(DEFAULT_RULES)
    run.poll(margin_level=90.0)
    run.poll(margin_level=40.0)
    since = run.now_ms
    run.poll(margin_level=25.0)
    engine = run.engine
    assert [a["state"] for a in engine.history(LOGIN, rule="margin_call")] == ["breached", "warning"]
    assert [a["rule"] for a in engine.history(LOGIN, state="breached")] == ["stop_out", "margin_call"]
    assert [a["ts"] for a in engine.history(LOGIN, since_ms=since)] == [since + 1000, since, since]
    first = engine.history(LOGIN)[-1]
    run.now_ms += 5_000
    acked = engine.ack(LOGIN, first["id"])
    assert acked is not None and acked["acked_ms"] == run.now_ms
    run.now_ms += 5_000
    assert engine.ack(LOGIN, first["id"])["acked_ms"] == acked["acked_ms"], "acknowledging again keeps the first"
    assert engine.history(LOGIN)[-1]["acked_ms"] == acked["acked_ms"]
    assert engine.ack(LOGIN, "1-nothing") is None


def test_acknowledgements_of_alerts_dropped_from_the_capped_history_are_pruned(monkeypatch: Any) -> None:
    monkeypatch.setattr(records, "HISTORY_CAP", 2)
    run = Script([{"kind": "exposure", "metric": "positions", "limit": 1}])
    one = (position("EURUSD", 0.1, 1),)
    run.poll(positions=one)
    first = run.engine.history(LOGIN)[0]["id"]
    run.engine.ack(LOGIN, first)
    run.poll()
    run.poll(positions=one)
    latest = run.engine.history(LOGIN)
    assert first not in [a["id"] for a in latest] and len(latest) == 2
    run.engine.ack(LOGIN, latest[0]["id"])
    assert run.store.client.hkeys(f"t:{LOGIN}:alerts:acks") == [latest[0]["id"]]


def test_alerts_wait_in_memory_while_redis_is_down() -> None:
    server = fakeredis.FakeServer()
    seconds = [0.0]
    gate = RedisGate(clock=lambda: seconds[0])
    run = Script(DEFAULT_RULES, Store(fakeredis.FakeRedis(server=server, decode_responses=True), "t", 1000, gate))
    run.poll(margin_level=300.0)
    server.connected = False
    assert run.poll(margin_level=40.0) == [("margin_call", "ok", "breached"), ("stop_out", "ok", "warning")]
    assert len(run.notified) == 2, "the webhook does not depend on Redis"
    assert run.row("margin_call")["state"] == "breached"
    server.connected = True
    seconds[0] += 5  # past the shared Redis backoff
    assert run.poll(margin_level=41.0) == []
    assert [a["rule"] for a in run.engine.history(LOGIN)] == ["stop_out", "margin_call"]


def test_rules_saved_from_the_page_win_over_the_file_and_survive_a_new_engine() -> None:
    run = Script(DEFAULT_RULES)
    run.poll()
    page_rules = parse_rules({"rules": [{"kind": "drawdown", "limit": 2}]})
    run.engine.set_rules(LOGIN, page_rules)
    assert run.engine.rules(LOGIN).source == "page"
    assert [r["id"] for r in run.engine.live_status()["rules"]] == ["drawdown"]
    assert run.poll(equity=9_700.0) == []
    assert run.poll(equity=9_500.0) == [("drawdown", "ok", "breached")]
    fresh = AlertEngine(run.store, DEFAULT_RULES)
    assert [rule.id for rule in fresh.rules(LOGIN).rules] == ["drawdown"]
    assert run.engine.reset_rules(LOGIN) is DEFAULT_RULES
    assert fresh.rules(LOGIN) is DEFAULT_RULES


def test_unreadable_saved_rules_fall_back_to_the_file() -> None:
    run = Script(DEFAULT_RULES)
    run.store.client.set(f"t:{LOGIN}:alerts:rules", json.dumps({"rules": [{"kind": "bogus"}]}))
    run.poll()
    assert run.engine.rules(LOGIN) is DEFAULT_RULES


def test_disabled_rules_are_shown_but_not_evaluated() -> None:
    run = Script([{"kind": "drawdown", "limit": 1, "enabled": False}])
    assert run.poll(equity=5_000.0) == []
    row = run.row("drawdown")
    assert row["enabled"] is False and row["value"] is None


@pytest.mark.integration
def test_state_survives_a_new_engine_on_the_same_redis(redis_server: RedisServer) -> None:
    rules = [{"kind": "drawdown", "limit": 10}, {"kind": "daily_loss", "limit": 5}]
    store = Store(redis_server.client(), "mt5", 1000)
    first = Script(rules, store)
    assert first.poll(utc_ms(2026, 3, 5, 9), equity=10_500.0) == []
    assert first.poll(utc_ms(2026, 3, 5, 10), equity=9_400.0) == [
        ("drawdown", "ok", "breached"),
        ("daily_loss", "ok", "breached"),
    ]
    second = Script(rules, Store(redis_server.client(), "mt5", 1000))
    assert second.poll(utc_ms(2026, 3, 5, 11), equity=9_400.0) == [], "still breached after the restart: no repeat"
    assert second.row("drawdown")["detail"] == "peak 10,500.00 USD", "the peak survived"
    assert second.row("daily_loss")["detail"] == "day opened at 10,000.00 USD", "so did the day's opening"
    assert second.poll(utc_ms(2026, 3, 5, 12), equity=9_900.0) == [
        ("drawdown", "breached", "ok"),
        ("daily_loss", "breached", "ok"),
    ]
    assert [a["state"] for a in second.engine.history(LOGIN, rule="drawdown")] == ["ok", "breached"]


def test_a_view_turns_alert_events_into_toasts_a_banner_and_notifications() -> None:
    run = Script(DEFAULT_RULES)
    run.poll(margin_level=40.0)
    alert = run.notified[0]
    status = run.engine.live_status()
    out, state = frame_updates([alert["data"]], status, [], {"toasts": [], "drawn_ms": 0}, T0)
    assert len(out[ids.RULES_ROWS]["children"]) == 2
    assert out[ids.RULES_SOURCE]["children"] == "Margin rules · built-in margin rules"
    banner_out = out[ids.ALERTS_BANNER]
    assert "Margin level breached: 40.00%" in banner_out["children"][0] and banner_out["style"]["color"] == "var(--bad)"
    assert [t.children for t in out[ids.ALERTS_TOASTS]["children"]] == [alert["data"]["message"]]
    assert out[ids.ALERTS_NEW]["data"] == [alert["data"]], "handed to assets/alerts.js for browser notifications"
    recent = run.engine.recent(T0)
    assert [a["rule"] for a in recent] == ["margin_call", "stop_out"]
    assert frame_updates([], status, recent[:1], state, T0 + 100) == ({}, state), (
        "an alert already shown is not shown again, and the panel is redrawn at most once a second"
    )
    later, state = frame_updates([], status, [], state, T0 + 10_000)
    assert later[ids.ALERTS_TOASTS]["children"] == [] and state["toasts"] == [], "toasts leave after 10 s"
    assert ids.ALERTS_NEW not in later
    assert ids.RULES_ROWS not in later, "a panel that would look the same is not sent again"
    run.poll(margin_level=60.0)
    moved, _ = frame_updates([], run.engine.live_status(), [], state, T0 + 20_000)
    assert "60.00%" in str(moved[ids.RULES_ROWS]["children"])


def test_a_view_catches_up_with_alerts_whose_message_it_missed() -> None:
    run = Script(DEFAULT_RULES)
    run.poll(margin_level=300.0)
    _, state = frame_updates([], run.engine.live_status(), [], {}, run.now_ms)
    run.poll(margin_level=40.0)  # the messages carrying these two alerts never reach the view
    run.poll(margin_level=41.0)
    recent = run.engine.recent(state["seen_ms"])
    out, state = frame_updates([], run.engine.live_status(), recent, state, run.now_ms)
    assert [a["rule"] for a in out[ids.ALERTS_NEW]["data"]] == ["margin_call", "stop_out"]
    assert len(out[ids.ALERTS_TOASTS]["children"]) == 2
    assert run.engine.recent(state["seen_ms"]) == []


def test_the_rule_editor_saves_reports_errors_with_line_and_field_and_reverts() -> None:
    run = Script(DEFAULT_RULES)
    run.poll()
    risk = RiskEngine(run.engine, RulesSettings())
    style, text, _ = editor_action(ids.RULES_EDIT, None, HIDDEN, risk, LOGIN)
    assert style["display"] == "block" and "kind: margin_level" in text
    _, _, message = editor_action(ids.RULES_SAVE, "rules:\n  - kind: drawdown\n    limit: 0\n", style, risk, LOGIN)
    assert message == "Not saved: line 3: rules[0].limit: expected a number greater than 0 (got 0)"
    _, _, message = editor_action(ids.RULES_SAVE, "rules:\n  - kind: drawdown\n    limit: 3\n", style, risk, LOGIN)
    assert message.startswith("Saved 1 rule(s)") and run.engine.rules(LOGIN).source == "page"
    _, text, message = editor_action(ids.RULES_REVERT, None, style, risk, LOGIN)
    assert message == "Back to the built-in margin rules." and "margin_level" in text
    assert editor_action(ids.RULES_EDIT, None, style, risk, LOGIN)[0] == HIDDEN


def test_rule_rows_read_like_a_trader_would_say_them() -> None:
    run = Script([{"kind": "daily_loss", "limit": 500, "unit": "money"}, {"kind": "profit_target", "limit": 10}])
    run.poll(utc_ms(2026, 3, 5, 9), equity=9_700.0)
    daily, target = run.engine.live_status()["rules"]
    assert distance_text(daily) == "200.00 USD left" and daily["reset_in_s"] == 13 * 3600
    assert distance_text(target) == "13.00% to go"
    assert duration(daily["reset_in_s"]) == "13 h 00 min" and duration(59) == "0 min"
    row = rule_row(daily)
    assert "breach at equity 9,500.00" in str(row) and "resets in 13 h 00 min" in str(row)
