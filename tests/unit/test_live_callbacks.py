"""The live dispatcher, called directly: snapshots rebuild, appends are capped and deduped, grids change by
transactions keyed by ticket, acks and resyncs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dash import no_update

from api.ws import PageView
from callbacks.live import Batch, apply_batch, parse_message
from layouts import ids
from layouts.figures import LIVE_POINTS
from services.models import HistoryPoint
from services.protocol import Message, event
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
    """The batch's updates by component id, and the ack under "send"."""
    updates, send = apply_batch(Batch.of(frame(seq, events), LOGIN), runtime, 5.0, {**STATE, **state})
    return {**updates, "send": send}


def prop(out: dict[str, Any], component_id: str, name: str) -> Any:
    return out.get(component_id, {}).get(name, no_update)


def test_a_snapshot_rebuilds_everything_and_is_acknowledged(runtime: Any) -> None:
    out = run(runtime, 1, [snapshot_event(runtime)])
    account = runtime.streamer.latest().account
    assert prop(out, ids.ACCOUNT_TITLE, "children") == f"Demo Trader · #{LOGIN}"
    assert prop(out, ids.TRADE_MODE, "children") == "Demo" and prop(out, ids.MARGIN_MODE, "children") == "Hedging"
    assert prop(out, ids.kpi_value("equity"), "children") == f"${account.equity:,.2f}"
    assert prop(out, ids.EQUITY_GRAPH, "figure")["data"][1]["name"] == "Equity"
    chart = prop(out, ids.CHART_STATE, "data")
    assert chart["login"] == LOGIN and chart["live"] is True
    rows = prop(out, ids.POSITIONS_GRID, "rowData")
    assert len(rows) == len(runtime.streamer.latest().positions)
    assert all(row["row_id"] == str(row["ticket"]) for row in rows)
    assert json.loads(out["send"]) == {"type": "ack", "seq": 1}
    assert prop(out, ids.BATCH_STATE, "data")["synced"] is True


def test_account_events_become_one_capped_append_without_duplicates(runtime: Any) -> None:
    chart = {"login": LOGIN, "last_ts": 2_000, "peak": 100.0, "live": True, "tz": "Europe/Berlin", "offset_s": 7200}
    events = [
        account_event(runtime, 1_999, 90.0),
        account_event(runtime, 2_001, 95.0),
        account_event(runtime, 2_002, 110.0),
    ]
    out = run(runtime, 5, events, chart=chart, batch_state={"seq": 4, "synced": True})
    equity = prop(out, ids.EQUITY_GRAPH, "extendData")
    underwater = prop(out, ids.DRAWDOWN_GRAPH, "extendData")
    assert equity[1:] == [[0, 1], LIVE_POINTS]
    assert equity[0]["y"][1] == [95.0, 110.0], "the point older than the last drawn one is skipped"
    assert equity[0]["x"][0] == [3_602_001, 3_602_002], "local wall-clock ms: Berlin is UTC+1 in January 1970"
    assert equity[0]["customdata"] == [["1970-01-01 02:00:02", "1970-01-01 02:00:02"], []], "server time, once"
    assert underwater[0]["y"] == [[-5.0, 0.0]]
    chart = prop(out, ids.CHART_STATE, "data")
    assert chart["last_ts"] == 2_002 and chart["peak"] == 110.0
    assert ids.EQUITY_GRAPH in out and "figure" not in out[ids.EQUITY_GRAPH]
    assert json.loads(out["send"]) == {"type": "ack", "seq": 5, "resync": False}


def test_no_appends_for_a_fixed_past_range(runtime: Any) -> None:
    chart = {"login": LOGIN, "last_ts": 0, "peak": 0.0, "live": False}
    out = run(runtime, 2, [account_event(runtime, 5, 1.0)], chart=chart, batch_state={"seq": 1, "synced": True})
    assert all(graph not in out for graph in (ids.EQUITY_GRAPH, ids.MARGIN_GRAPH, ids.DRAWDOWN_GRAPH))
    assert ids.CHART_STATE not in out, "nothing changed in the chart state, so nothing is sent"
    assert prop(out, ids.kpi_value("equity"), "children") == "$1.00", "the cards stay live"


def test_a_skipped_number_acks_with_a_resync_request_once(runtime: Any) -> None:
    out = run(runtime, 9, [], batch_state={"seq": 7, "synced": True})
    assert json.loads(out["send"]) == {"type": "ack", "seq": 9, "resync": True}
    again = run(runtime, 10, [], batch_state=prop(out, ids.BATCH_STATE, "data"))
    assert json.loads(again["send"]) == {"type": "ack", "seq": 10, "resync": False}, "the answer is on its way"
    later = run(runtime, 29, [], batch_state={**prop(again, ids.BATCH_STATE, "data"), "seq": 28})
    assert json.loads(later["send"])["resync"] is True, "asked again when no answer came"


def test_redis_coming_back_asks_for_a_snapshot(runtime: Any) -> None:
    event = {"type": "status", "account": None, "ts": 5, "data": {"link": "redis", "redis": "up"}}
    out = run(runtime, 3, [event], batch_state={"seq": 2, "synced": True})
    assert json.loads(out["send"])["resync"] is True
    assert out[ids.link_badge("redis")] == {"children": "Redis: up", "className": "badge badge-ok"}


def test_status_marks_badges_and_link_reasons(runtime: Any) -> None:
    status = {"mt5": "reconnecting", "mt5_error": "No IPC connection (-10004)", "redis": "up", "last_poll_ms": 1_000}
    out = run(runtime, 2, [{"type": "status", "account": LOGIN, "ts": 1_500, "data": status}], batch_state={"seq": 1})
    badge = out[ids.link_badge("mt5")]
    assert badge == {"children": "MT5: reconnecting — No IPC connection (-10004)", "className": "badge badge-warn"}
    links = prop(out, ids.LINKS, "data")
    assert links["last"]["mt5"] == 1_000 and links["last"]["redis"] == 1_500
    assert links["reasons"]["mt5"] == "No IPC connection (-10004)"
    assert links["period_ms"] == 5_000


def test_link_ages_are_sent_once_a_second_unless_a_status_changes(runtime: Any) -> None:
    ts = 2_000_000_000_000
    quiet = run(runtime, 2, [account_event(runtime, ts - 5, 1.0)], batch_state={"seq": 1, "synced": True,
                                                                                  "links_ms": ts - 400})  # fmt: skip
    assert ids.LINKS not in quiet and prop(quiet, ids.BATCH_STATE, "data")["links_ms"] == ts - 400
    due = run(runtime, 2, [], batch_state={"seq": 1, "synced": True, "links_ms": ts - 1_000})
    assert prop(due, ids.LINKS, "data")["last"]["live"] == ts


def test_deposits_today_do_not_count_as_profit(runtime: Any) -> None:
    out = run(runtime, 1, [snapshot_event(runtime)])
    day = prop(out, ids.DAY_START, "data")
    deposit = {"type": 2, "profit": 500.0, "time_utc_ms": day["start_ms"] + 1, "ticket": 1}
    account = account_event(runtime, day["start_ms"] + 2, day["equity"] + 520.0)
    state = {"day": day, "chart": prop(out, ids.CHART_STATE, "data"), "batch_state": prop(out, ids.BATCH_STATE, "data")}
    later = run(runtime, 2, [{"type": "deals", "account": LOGIN, "ts": 3, "data": [deposit]}, account], **state)
    assert prop(later, ids.kpi_value("today"), "children") == "+$20.00"
    assert prop(later, ids.DEALS_VERSION, "data") == 2_000_000_000_000, "the deal grid and analytics refetch"


def positions_event(view: PageView, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A positions event as a ``?view=page`` socket sends it."""
    return json.loads(view.event(Message.of_event(event("positions", LOGIN, 5, rows))))


def position(ticket: int, profit: float, price: float = 1.1) -> dict[str, Any]:
    return {"ticket": ticket, "symbol": "EURUSD", "type": 0, "volume": 0.1, "price_open": 1.1, "price_current": price,
            "sl": 0.0, "tp": 0.0, "swap": -1.0, "profit": profit, "time_utc_ms": 1_000, "magic": 7}  # fmt: skip


def apply_transaction(rows: list[dict[str, Any]], transaction: dict[str, Any]) -> list[dict[str, Any]]:
    """What AG Grid does with a ``rowTransaction`` of a grid whose row id is ``row_id``."""
    gone = {row["row_id"] for row in transaction["remove"]}
    changed = {row["row_id"]: row for row in transaction["update"]}
    return [changed.get(r["row_id"], r) for r in rows if r["row_id"] not in gone] + transaction["add"]


def test_grids_change_by_transactions_keyed_by_ticket(runtime: Any) -> None:
    view = PageView()
    opened = snapshot_event(runtime)
    opened["data"]["positions"] = [position(1, 10.0), position(2, 20.0), position(3, 30.0)]
    out = run(runtime, 1, [json.loads(view.event(Message.of_event(opened)))])
    rows = prop(out, ids.POSITIONS_GRID, "rowData")
    assert [r["ticket"] for r in rows] == [1, 2, 3] and prop(out, ids.POSITIONS_COUNT, "children") == "3 · +57.00"
    change = positions_event(view, [position(3, 31.0, 1.2), position(1, 10.0), position(4, 40.0)])
    assert [r["ticket"] for r in change["data"]["update"]] == [3], "only the rows that changed travel"
    assert change["data"]["remove"] == [{"ticket": 2}] and [r["ticket"] for r in change["data"]["add"]] == [4]
    later = run(
        runtime, 2, [change], batch_state=prop(out, ids.BATCH_STATE, "data"), chart=prop(out, ids.CHART_STATE, "data")
    )
    transaction = prop(later, ids.POSITIONS_GRID, "rowTransaction")
    assert transaction["remove"] == [{"row_id": "2"}], "removed by row id, the ticket"
    rows = apply_transaction(rows, transaction)
    assert [(r["ticket"], r["profit"], r["row_id"]) for r in rows] == [(1, 10.0, "1"), (3, 31.0, "3"), (4, 40.0, "4")]
    assert rows[2]["side"] == "Buy" and rows[2]["time_local"] and "magic" not in rows[2]
    assert prop(later, ids.POSITIONS_COUNT, "children") == "3 · +78.00"
    two = [positions_event(view, [position(3, 32.0), position(4, 40.0)]), positions_event(view, [position(4, 41.0)])]
    both = run(runtime, 3, two, batch_state=prop(later, ids.BATCH_STATE, "data"))
    rows = apply_transaction(rows, prop(both, ids.POSITIONS_GRID, "rowTransaction"))
    assert [(r["ticket"], r["profit"]) for r in rows] == [(4, 41.0)], "two polls' changes in one transaction"
    gap_events = [positions_event(view, [position(1, 11.0)])]
    gap = run(runtime, 5, gap_events, batch_state=prop(both, ids.BATCH_STATE, "data"))
    assert ids.POSITIONS_GRID not in gap, "after a gap in seq the rows wait for the snapshot asked for"
    assert json.loads(gap["send"])["resync"] is True
    snapshot = json.loads(view.event(Message.of_event(snapshot_event(runtime))))
    fresh = run(runtime, 6, [snapshot, positions_event(view, [position(7, 70.0)])])
    assert [r["ticket"] for r in prop(fresh, ids.POSITIONS_GRID, "rowData")] == [7], "a snapshot, then its changes"


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
    assert prop(out, ids.EQUITY_GRAPH, "figure")["data"][1]["y"] == [10.0, 11.0, 12.0]


def test_events_of_other_accounts_on_the_same_redis_are_dropped() -> None:
    other = {"type": "account", "account": 42, "ts": 7, "data": {"equity": 1.0}}
    mine = {"type": "account", "account": LOGIN, "ts": 8, "data": {"equity": 2.0}}
    link = {"type": "status", "account": None, "ts": 9, "data": {"link": "redis", "redis": "up"}}
    batch = Batch.of(frame(1, [other, mine, link]), LOGIN)
    assert batch.accounts == [(8, {"equity": 2.0})]
    assert batch.redis_back is True


def sync_event(read: int, total: int, done: bool, kind: str = "status") -> dict[str, Any]:
    return {"type": kind, "account": LOGIN, "ts": 10, "data": {"history_sync": {"read": read, "total": total,
                                                                               "done": done}}}  # fmt: skip


def test_the_history_sync_shows_its_progress_and_redraws_once_when_done(runtime: Any) -> None:
    synced = {"seq": 1, "synced": True}
    first = run(runtime, 2, [sync_event(1_500, 3_472, False)], batch_state=synced)
    assert prop(first, ids.HISTORY_SYNC, "hidden") is False
    assert prop(first, ids.HISTORY_SYNC_TEXT, "children") == "Reading history from the terminal: 1,500 of 3,472 deals"
    assert prop(first, ids.HISTORY_SYNC_BAR, "value") == 1_500 and prop(first, ids.HISTORY_SYNC_BAR, "max") == 3_472
    assert ids.EQUITY_GRAPH not in first and ids.DEALS_VERSION not in first
    state = prop(first, ids.BATCH_STATE, "data")
    same = run(runtime, 3, [sync_event(1_500, 3_472, False, "heartbeat")], batch_state=state)
    assert ids.HISTORY_SYNC not in same and ids.HISTORY_SYNC_TEXT not in same, "set only when it changes"
    quiet = run(runtime, 4, [], batch_state=prop(same, ids.BATCH_STATE, "data"))
    assert prop(quiet, ids.BATCH_STATE, "data")["sync"] == {"read": 1_500, "total": 3_472, "done": False}
    done = run(runtime, 5, [sync_event(3_472, 3_472, True)], batch_state=prop(quiet, ids.BATCH_STATE, "data"))
    assert prop(done, ids.HISTORY_SYNC, "hidden") is True
    assert prop(done, ids.EQUITY_GRAPH, "figure")["data"][1]["name"] == "Equity", "the charts are drawn again"
    assert prop(done, ids.DEALS_VERSION, "data") == 2_000_000_000_000, "the deal grid and analytics refetch"
    after = run(
        runtime, 6, [sync_event(3_472, 3_472, True, "heartbeat")], batch_state=prop(done, ids.BATCH_STATE, "data")
    )
    assert ids.EQUITY_GRAPH not in after and ids.HISTORY_SYNC not in after, "only once"


def test_a_page_opened_after_the_sync_or_on_a_source_without_one_shows_no_progress(runtime: Any) -> None:
    snapshot = snapshot_event(runtime)
    snapshot["data"]["status"]["history_sync"] = None
    out = run(runtime, 1, [snapshot])
    assert prop(out, ids.HISTORY_SYNC, "hidden") is True and ids.HISTORY_SYNC_TEXT not in out
    total = run(runtime, 2, [sync_event(200, 0, False)], batch_state=prop(out, ids.BATCH_STATE, "data"))
    assert prop(total, ids.HISTORY_SYNC_TEXT, "children") == "Reading history from the terminal: 200 deals"
    assert ids.EQUITY_GRAPH not in total, "a sync starting is no reason to redraw"
