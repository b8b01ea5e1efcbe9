"""The live dispatcher, called directly: snapshots rebuild, appends are capped and deduped, acks and resyncs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dash import no_update

from callbacks.live import Batch, apply_batch, parse_message
from layouts.figures import LIVE_POINTS
from services.models import HistoryPoint
from services.sources.demo import DemoSource

LOGIN = 5_000_001


@pytest.fixture
def runtime(make_app: Any) -> Any:
    app = make_app(source=DemoSource(seed=8), start=False)
    rt = app.server.extensions["mt5_runtime"]
    rt.streamer.step()
    return rt


def frame(seq: int, events: list[dict[str, Any]], ts: int = 2_000_000_000_000) -> dict[str, Any]:
    return {"type": "batch", "account": LOGIN, "ts": ts, "data": {"seq": seq, "events": events}}


def account_event(runtime: Any, ts: int, equity: float) -> dict[str, Any]:
    account = {**runtime.streamer.latest().account.to_dict(), "equity": equity}
    return {"type": "account", "account": LOGIN, "ts": ts, "data": account}


def snapshot_event(runtime: Any) -> dict[str, Any]:
    return runtime.snapshot_event()


STATE = {"client": {"tz": "Europe/Berlin", "width": 800}, "selection": {"choice": "all"}, "theme": "light"}


def run(runtime: Any, seq: int, events: list[dict[str, Any]], **state: Any) -> dict[str, Any]:
    return apply_batch(Batch.of(frame(seq, events), LOGIN), runtime, 5.0, {**STATE, **state})


def test_a_snapshot_rebuilds_everything_and_is_acknowledged(runtime: Any) -> None:
    out = run(runtime, 1, [snapshot_event(runtime)])
    account = runtime.streamer.latest().account
    assert out["title"] == f"Demo Trader · #{LOGIN}"
    assert out["trade_mode"] == "Demo" and out["margin_mode"] == "Hedging"
    assert out["kpi_values"][1] == f"${account.equity:,.2f}"
    assert len(out["figures"]) == 3 and out["figures"][0].data[1].name == "Equity"
    assert out["chart"]["login"] == LOGIN and out["chart"]["live"] is True
    assert len(out["positions"]) == len(runtime.streamer.latest().positions)
    assert all(row["row_id"] == str(row["ticket"]) for row in out["positions"])
    assert json.loads(out["send"]) == {"type": "ack", "seq": 1}
    assert out["batch_state"] == {"seq": 1, "synced": True}


def test_account_events_become_one_capped_append_without_duplicates(runtime: Any) -> None:
    chart = {"login": LOGIN, "last_ts": 2_000, "peak": 100.0, "live": True, "tz": "UTC", "offset_s": 7200}
    events = [
        account_event(runtime, 1_999, 90.0),
        account_event(runtime, 2_001, 95.0),
        account_event(runtime, 2_002, 110.0),
    ]
    out = run(runtime, 5, events, chart=chart, batch_state={"seq": 4, "synced": True})
    equity, _margin, underwater = out["extends"]
    assert equity[1:] == [[0, 1], LIVE_POINTS]
    assert equity[0]["y"][1] == [95.0, 110.0], "the point older than the last drawn one is skipped"
    assert equity[0]["x"][0] == ["1970-01-01 00:00:02.001", "1970-01-01 00:00:02.002"]
    assert underwater[0]["y"] == [[-5.0, 0.0]]
    assert out["chart"]["last_ts"] == 2_002 and out["chart"]["peak"] == 110.0
    assert out["figures"] == [no_update] * 3
    assert json.loads(out["send"]) == {"type": "ack", "seq": 5, "resync": False}


def test_no_appends_for_a_fixed_past_range(runtime: Any) -> None:
    chart = {"login": LOGIN, "last_ts": 0, "peak": 0.0, "live": False}
    out = run(runtime, 2, [account_event(runtime, 5, 1.0)], chart=chart, batch_state={"seq": 1, "synced": True})
    assert out["extends"] == [no_update] * 3
    assert out["kpi_values"][1] == "$1.00", "the cards stay live"


def test_a_skipped_number_acks_with_a_resync_request_once(runtime: Any) -> None:
    out = run(runtime, 9, [], batch_state={"seq": 7, "synced": True})
    assert json.loads(out["send"]) == {"type": "ack", "seq": 9, "resync": True}
    again = run(runtime, 10, [], batch_state=out["batch_state"])
    assert json.loads(again["send"]) == {"type": "ack", "seq": 10, "resync": False}, "the answer is on its way"
    later = run(runtime, 29, [], batch_state={**again["batch_state"], "seq": 28})
    assert json.loads(later["send"])["resync"] is True, "asked again when no answer came"


def test_redis_coming_back_asks_for_a_snapshot(runtime: Any) -> None:
    event = {"type": "status", "account": None, "ts": 5, "data": {"link": "redis", "redis": "up"}}
    out = run(runtime, 3, [event], batch_state={"seq": 2, "synced": True})
    assert json.loads(out["send"])["resync"] is True
    assert out["badges"][2:] == ["Redis: up", "badge badge-ok"]


def test_status_marks_badges_and_link_reasons(runtime: Any) -> None:
    status = {"mt5": "reconnecting", "mt5_error": "No IPC connection (-10004)", "redis": "up", "last_poll_ms": 1_000}
    out = run(runtime, 2, [{"type": "status", "account": LOGIN, "ts": 1_500, "data": status}], batch_state={"seq": 1})
    assert out["badges"][:2] == ["MT5: reconnecting — No IPC connection (-10004)", "badge badge-warn"]
    assert out["links"]["last"]["mt5"] == 1_000 and out["links"]["last"]["redis"] == 1_500
    assert out["links"]["reasons"]["mt5"] == "No IPC connection (-10004)"
    assert out["links"]["period_ms"] == 5_000


def test_deposits_today_do_not_count_as_profit(runtime: Any) -> None:
    out = run(runtime, 1, [snapshot_event(runtime)])
    day = out["day"]
    deposit = {"type": 2, "profit": 500.0, "time_utc_ms": day["start_ms"] + 1, "ticket": 1}
    account = account_event(runtime, day["start_ms"] + 2, day["equity"] + 520.0)
    later = run(runtime, 2, [{"type": "deals", "account": LOGIN, "ts": 3, "data": [deposit]}, account],
                day=day, chart=out["chart"], batch_state=out["batch_state"])  # fmt: skip
    assert later["kpi_values"][-1] == "+$20.00"


def test_garbage_frames_are_ignored() -> None:
    assert parse_message(None) is None
    assert parse_message({"data": "not json"}) is None
    assert parse_message({"data": "[1]"}) is None
    batch = Batch.of({"type": "batch", "ts": 1, "data": {"seq": "x", "events": [1, {"type": "account"}]}})
    assert batch.seq is None and batch.accounts == []


def test_history_points_feed_the_snapshot_figure(runtime: Any) -> None:
    after = runtime.store.last_history_ts(LOGIN) + 1
    runtime.store.append_history(LOGIN, [HistoryPoint(after + i, 10.0, 10.0 + i, 1.0, 1000.0, 0.0) for i in range(3)])
    out = run(runtime, 1, [snapshot_event(runtime)], selection={"choice": "1h", "from_ms": after, "to_ms": None})
    assert list(out["figures"][0].data[1].y) == [10.0, 11.0, 12.0]


def test_events_of_other_accounts_on_the_same_redis_are_dropped() -> None:
    other = {"type": "account", "account": 42, "ts": 7, "data": {"equity": 1.0}}
    mine = {"type": "account", "account": LOGIN, "ts": 8, "data": {"equity": 2.0}}
    link = {"type": "status", "account": None, "ts": 9, "data": {"link": "redis", "redis": "up"}}
    batch = Batch.of(frame(1, [other, mine, link]), LOGIN)
    assert batch.accounts == [(8, {"equity": 2.0})]
    assert batch.redis_back is True
