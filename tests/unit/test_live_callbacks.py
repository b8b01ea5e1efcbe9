"""The live dispatcher, called directly: snapshots rebuild, appends are capped and deduped, grids change by
index, acks and resyncs; live points only where they continue the chart's view."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis
from dash import no_update

from api.ws import PageView
from callbacks.charts import GRAPHS, chart_outputs
from callbacks.live import Batch, apply_batch, parse_message
from layouts import ids
from layouts.figures import LIVE_POINTS
from services.models import HistoryPoint
from services.sources.demo import DemoSource
from services.timefmt import local_ms

LOGIN = 5_000_001
HOUR_MS = 3_600_000


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
    message = json.dumps({"type": "positions", "account": LOGIN, "ts": 5, "data": rows})
    return json.loads(view.event(message))


def position(ticket: int, profit: float, price: float = 1.1) -> dict[str, Any]:
    return {"ticket": ticket, "symbol": "EURUSD", "type": 0, "volume": 0.1, "price_open": 1.1, "price_current": price,
            "sl": 0.0, "tp": 0.0, "swap": -1.0, "profit": profit, "time_utc_ms": 1_000, "magic": 7}  # fmt: skip


def apply_patch(rows: list[dict[str, Any]], patch: Any) -> list[dict[str, Any]]:
    """What the Dash renderer does with a Patch of a list of rows."""
    rows = [dict(row) for row in rows]
    for operation in patch.to_plotly_json()["operations"]:
        name, location, params = operation["operation"], operation["location"], operation["params"]
        if name == "Merge":
            rows[location[0]].update(params["value"])
        elif name == "Delete":
            del rows[location[0]]
        elif name == "Extend":
            rows.extend(params["value"])
        else:
            raise AssertionError(f"unexpected operation {name}")
    return rows


def test_grids_change_cell_by_cell_by_row_index(runtime: Any) -> None:
    view = PageView()
    snapshot = json.loads(view.event(json.dumps(snapshot_event(runtime))))
    snapshot["data"]["positions"] = [position(1, 10.0), position(2, 20.0), position(3, 30.0)]
    view.rows["positions"] = [json.loads(json.dumps(p)) for p in snapshot["data"]["positions"]]
    out = run(runtime, 1, [snapshot])
    rows = prop(out, ids.POSITIONS_GRID, "rowData")
    assert [r["ticket"] for r in rows] == [1, 2, 3] and prop(out, ids.POSITIONS_COUNT, "children") == "3 · +57.00"
    change = positions_event(view, [position(3, 31.0, 1.2), position(1, 10.0), position(4, 40.0)])
    assert change["data"]["set"] == [[2, {"price_current": 1.2, "profit": 31.0}]], "only changed cells travel"
    assert change["data"]["remove"] == [1] and [r["ticket"] for r in change["data"]["add"]] == [4]
    later = run(
        runtime, 2, [change], batch_state=prop(out, ids.BATCH_STATE, "data"), chart=prop(out, ids.CHART_STATE, "data")
    )
    rows = apply_patch(rows, prop(later, ids.POSITIONS_GRID, "rowData"))
    assert [(r["ticket"], r["profit"], r["row_id"]) for r in rows] == [(1, 10.0, "1"), (3, 31.0, "3"), (4, 40.0, "4")]
    assert rows[2]["side"] == "Buy" and rows[2]["time_local"] and "magic" not in rows[2]
    assert prop(later, ids.POSITIONS_COUNT, "children") == "3 · +78.00"
    two = [positions_event(view, [position(3, 32.0), position(4, 40.0)]), positions_event(view, [position(4, 41.0)])]
    both = run(runtime, 3, two, batch_state=prop(later, ids.BATCH_STATE, "data"))
    rows = apply_patch(rows, prop(both, ids.POSITIONS_GRID, "rowData"))
    assert [(r["ticket"], r["profit"]) for r in rows] == [(4, 41.0)], "two polls' changes in one batch, in turn"
    gap_events = [positions_event(view, [position(1, 11.0)])]
    gap = run(runtime, 5, gap_events, batch_state=prop(both, ids.BATCH_STATE, "data"))
    assert ids.POSITIONS_GRID not in gap, "after a gap in seq the rows wait for the snapshot asked for"
    assert json.loads(gap["send"])["resync"] is True
    snapshot = json.loads(view.event(json.dumps(snapshot_event(runtime))))
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


SYNCED = {"seq": 1, "synced": True}


def live_chart(runtime: Any, **view: Any) -> dict[str, Any]:
    """The chart state of a page that drew its window up to the latest stored point and follows live."""
    last = runtime.store.last_history_ts(LOGIN)
    return {"login": LOGIN, "last_ts": last, "peak": 0.0, "live": True, "paused": False, "to_ms": None, "zoom": None,
            "tz": STATE["client"]["tz"], **view}  # fmt: skip


def store_points(runtime: Any, *ts: int) -> None:
    runtime.store.append_history(LOGIN, [HistoryPoint(t, 10_000.0, 10_000.0 + i, 0.0, 0.0, 0.0)
                                         for i, t in enumerate(ts)])  # fmt: skip


@pytest.fixture
def recorded(make_app: Any) -> Any:
    """A runtime whose account was recorded a minute apart from three hours ago, then polled now."""
    app = make_app(source=DemoSource(seed=8), start=False)
    rt = app.server.extensions["mt5_runtime"]
    now = int(time.time() * 1000)
    store_points(rt, *range(now - 3 * HOUR_MS, now - HOUR_MS, 60_000))
    rt.streamer.step()
    return rt


def test_a_zoom_into_the_past_takes_no_live_points_and_keeps_its_window_through_a_snapshot(recorded: Any) -> None:
    now = int(time.time() * 1000)
    zoom = (now - 150 * 60_000, now - 120 * 60_000)
    *_, chart, _ = chart_outputs(recorded, None, STATE["client"], "light", zoom, LOGIN)
    assert chart["live"] is False and chart["paused"] is True and chart["zoom"] == list(zoom)
    assert chart["last_ts"] <= zoom[1]
    out = run(recorded, 2, [account_event(recorded, now + 1_000, 1.0)], chart=chart, batch_state=SYNCED)
    assert all(graph not in out for graph in GRAPHS) and ids.CHART_STATE not in out
    again = run(recorded, 3, [snapshot_event(recorded)], chart=chart)  # a reconnect redraws the same window
    xs = prop(again, ids.EQUITY_GRAPH, "figure")["data"][1]["x"]
    assert xs and max(xs) <= local_ms([zoom[1]], STATE["client"]["tz"])[0]
    assert ids.CHART_STATE not in again, "the same window, still paused"
    *_, back, _ = chart_outputs(recorded, None, STATE["client"], "light", None, LOGIN)  # "Back to live"
    assert back["live"] is True and back["paused"] is False and back["last_ts"] >= now - 1_000


def test_a_zoom_reaching_ahead_takes_points_up_to_its_right_edge_then_pauses(runtime: Any) -> None:
    last = runtime.store.last_history_ts(LOGIN)
    chart = live_chart(runtime, last_ts=last - 1_000, zoom=[last - HOUR_MS, last - 500])  # drawn before its edge
    events = [account_event(runtime, last - 800, 1.0), account_event(runtime, last - 200, 2.0)]
    out = run(runtime, 2, events, chart=chart, batch_state=SYNCED)
    assert prop(out, ids.EQUITY_GRAPH, "extendData")[0]["y"][1] == [1.0], "the point past the edge is left out"
    state = prop(out, ids.CHART_STATE, "data")
    assert state["last_ts"] == last - 800 and state["live"] is False and state["paused"] is True


def test_points_after_lost_events_wait_for_the_snapshot(runtime: Any) -> None:
    chart = live_chart(runtime)
    out = run(runtime, 5, [account_event(runtime, chart["last_ts"] + 250, 1.0)], chart=chart,
              batch_state={"seq": 3, "synced": True})  # fmt: skip
    assert all(graph not in out for graph in GRAPHS) and ids.CHART_STATE not in out
    assert json.loads(out["send"])["resync"] is True, "the snapshot asked for redraws the charts"


def test_a_gap_over_stored_points_reads_the_window_again(runtime: Any) -> None:
    chart = live_chart(runtime)
    hidden, first = chart["last_ts"] + 1_000, chart["last_ts"] + 2_000
    store_points(runtime, hidden, first)  # the page got the event of ``first`` only
    out = run(runtime, 2, [account_event(runtime, first, 10_001.0)], chart=chart, batch_state=SYNCED)
    assert "extendData" not in out[ids.EQUITY_GRAPH]
    xs = prop(out, ids.EQUITY_GRAPH, "figure")["data"][1]["x"]
    assert local_ms([hidden, first], STATE["client"]["tz"]) == xs[-2:], "drawn with the point it would have hidden"
    assert prop(out, ids.CHART_STATE, "data")["last_ts"] == first


def test_a_quiet_gap_with_nothing_stored_is_joined(runtime: Any) -> None:
    chart = live_chart(runtime)
    first = chart["last_ts"] + 60_000  # a minute without a change: nothing was recorded in between
    out = run(runtime, 2, [account_event(runtime, first, 1.0)], chart=chart, batch_state=SYNCED)
    assert prop(out, ids.EQUITY_GRAPH, "extendData")[0]["x"][1] == local_ms([first], STATE["client"]["tz"])


def test_a_gap_redis_cannot_check_is_not_joined(runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: Any, **kwargs: Any) -> None:
        raise redis.ConnectionError("down")

    chart = live_chart(runtime)
    monkeypatch.setattr(runtime.store, "history", down)
    out = run(runtime, 2, [account_event(runtime, chart["last_ts"] + 60_000, 1.0)], chart=chart, batch_state=SYNCED)
    assert all(graph not in out for graph in GRAPHS) and ids.CHART_STATE not in out, "the next batch asks again"
