"""The page's live updates, rendered on the server per view: given events, the props each sets on the page.

A whole page rebuilds everything, appends are capped and deduped per socket, grids change by transactions
keyed by ticket, badges and link ages, the history sync, and pages of one view share one rendering.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from layouts import ids
from layouts.figures import LIVE_POINTS
from services.core.models import HistoryPoint
from services.core.protocol import ACCOUNT, ACCOUNTS, DEALS, HEARTBEAT, POSITIONS, STATUS, Message, event
from services.ingest.monitor import AccountsMonitor
from services.ingest.sources.demo import DemoSource
from services.live.fanout import ClientQueue
from services.live.render import Render, merge
from services.live.viewhub import ViewHub
from views.charts import LiveCharts
from views.page import PageKey, PageKind, PageRenderer

LOGIN = 5_000_001
TS = 2_000_000_000_000


@pytest.fixture
def app(make_app: Any) -> Any:
    """The demo account polled once, and a monitor that sees that poll as just made (however slow the test)."""
    app = make_app(source=DemoSource(seed=8), start=False)
    runtime = app.server.extensions["mt5_runtime"]
    runtime.streamer.step()
    polled_s = runtime.streamer.status().last_poll_ms / 1000
    runtime.monitor = AccountsMonitor(runtime.store, default_interval_ms=250, clock=lambda: polled_s)
    return app


@pytest.fixture
def runtime(app: Any) -> Any:
    return app.server.extensions["mt5_runtime"]


def renderer(app: Any, tz: str = "Europe/Berlin", replaying: bool = False, clock: Any = time.time) -> PageRenderer:
    """The view of the app's own account in ``tz``, loaded from its latest snapshot."""
    runtime = app.server.extensions["mt5_runtime"]
    return PageRenderer(runtime, app.server.extensions["mt5_risk"].alerts, PageKey(None, None, tz, replaying), clock)


def message(kind: str, data: Any, ts: int = TS, account: int | None = LOGIN) -> Message:
    """An event as the fan-out hands it over: parsed once, its account from its channel."""
    return Message.of_event(event(kind, account, ts, data))


def account_at(runtime: Any, equity: float) -> dict[str, Any]:
    return {**runtime.streamer.latest().account.to_dict(), "equity": equity}


def prop(render: Render | None, component_id: str, name: str) -> Any:
    """A prop the render sets (shared or live), or None."""
    if render is None:
        return None
    return {**render.set, **render.live}.get(component_id, {}).get(name)


def position(ticket: int, profit: float, price: float = 1.1) -> dict[str, Any]:
    return {"ticket": ticket, "symbol": "EURUSD", "type": 0, "volume": 0.1, "price_open": 1.1, "price_current": price,
            "sl": 0.0, "tp": 0.0, "swap": -1.0, "profit": profit, "time_utc_ms": 1_000, "magic": 7}  # fmt: skip


def test_a_whole_page_rebuilds_everything_and_has_the_charts_reloaded(app: Any, runtime: Any) -> None:
    full = renderer(app).full(reload=True)
    account = runtime.streamer.latest().account
    assert full.full and full.reload
    assert prop(full, ids.ACCOUNT_TITLE, "children") == f"Demo Trader · #{LOGIN}"
    assert prop(full, ids.TRADE_MODE, "children") == "Demo" and prop(full, ids.MARGIN_MODE, "children") == "Hedging"
    assert prop(full, ids.kpi_value("equity"), "children") == f"${account.equity:,.2f}"
    rows = prop(full, ids.POSITIONS_GRID, "rowData")
    assert len(rows) == len(runtime.streamer.latest().positions)
    assert all(row["row_id"] == str(row["ticket"]) for row in rows)
    assert prop(full, ids.CHART_RELOAD, "data") and prop(full, ids.DEALS_VERSION, "data"), "charts and deals read again"
    assert ids.EQUITY_GRAPH not in full.set, "the figures follow the page's range: the page reloads them"
    assert prop(renderer(app).full(reload=False), ids.CHART_RELOAD, "data") is None


def test_account_events_become_points_each_socket_appends_capped_without_duplicates(app: Any, runtime: Any) -> None:
    view = renderer(app)
    points = [p for ts, equity in ((1_999, 90.0), (2_001, 95.0), (2_002, 110.0))
              for p in view.event(message(ACCOUNT, account_at(runtime, equity), ts)).points]  # fmt: skip
    charts = LiveCharts()
    assert charts.take({"login": LOGIN, "last_ts": 2_000, "peak": 100.0, "live": True, "rev": 1})
    first, rest, rev = charts.appends(points)
    equity = first[ids.EQUITY_GRAPH]["extendData"]
    underwater = rest[ids.DRAWDOWN_GRAPH]["extendData"]
    assert equity[1:] == [[0, 1], LIVE_POINTS] and rev == 1
    assert equity[0]["y"][1] == [95.0, 110.0], "the point older than the last drawn one is skipped"
    assert equity[0]["x"][0] == [3_602_001, 3_602_002], "local wall-clock ms: Berlin is UTC+1 in January 1970"
    assert equity[0]["customdata"] == [["1970-01-01 02:00:02", "1970-01-01 02:00:02"], []], "server time, once"
    assert underwater[0]["y"] == [[-5.0, 0.0]]
    assert charts.state["last_ts"] == 2_002 and charts.state["peak"] == 110.0
    assert charts.appends([]) == ({}, {}, 1), "nothing twice"


def test_no_appends_for_a_fixed_past_range_while_the_cards_stay_live(app: Any, runtime: Any) -> None:
    view = renderer(app)
    render = view.event(message(ACCOUNT, account_at(runtime, 1.0), 5))
    charts = LiveCharts()
    charts.take({"login": LOGIN, "last_ts": 0, "peak": 0.0, "live": False, "rev": 2})
    assert charts.appends(render.points) == ({}, {}, None)
    assert prop(render, ids.kpi_value("equity"), "children") == "$1.00"


def test_a_zoom_into_the_past_takes_no_points_and_one_reaching_ahead_takes_them_up_to_its_edge(
    app: Any, runtime: Any
) -> None:
    view = renderer(app)
    points = [p for ts in (11, 12, 13) for p in view.event(message(ACCOUNT, account_at(runtime, 5.0), ts)).points]
    paused = LiveCharts()
    paused.take({"login": LOGIN, "last_ts": 10, "peak": 0.0, "live": False, "paused": True, "zoom": [0, 10], "rev": 1})
    assert paused.appends(points) == ({}, {}, None), "no line from the zoomed window to now"
    ahead = LiveCharts()
    ahead.take({"login": LOGIN, "last_ts": 10, "peak": 0.0, "live": True, "zoom": [0, 12], "to_ms": None, "rev": 2})
    first, _, rev = ahead.appends(points)
    assert rev == 2 and first[ids.EQUITY_GRAPH]["extendData"][0]["x"][0][-1] == 3_600_012, "up to the edge, 12"


def test_charts_loaded_again_get_the_points_they_missed_at_once(app: Any, runtime: Any) -> None:
    view = renderer(app)
    charts = LiveCharts()
    charts.take({"login": LOGIN, "last_ts": 10, "peak": 0.0, "live": True, "rev": 1})
    charts.appends([p for ts in (11, 12) for p in view.event(message(ACCOUNT, account_at(runtime, 5.0), ts)).points])
    assert charts.take({"login": LOGIN, "last_ts": 11, "peak": 5.0, "live": True, "rev": 2}), "a new load"
    first, _, rev = charts.appends([])
    assert rev == 2 and first[ids.EQUITY_GRAPH]["extendData"][0]["y"][1] == [5.0], "only what the load lacks"


def test_redis_coming_back_renders_the_whole_page_again(app: Any) -> None:
    back = renderer(app).event(message(STATUS, {"link": "redis", "redis": "up"}, account=None))
    assert back is not None and back.full and back.reload, "events may have been lost: all read again"
    assert prop(back, ids.CHART_RELOAD, "data")


def test_status_marks_badges_and_link_reasons(app: Any) -> None:
    status = {"mt5": "reconnecting", "mt5_error": "No IPC connection (-10004)", "redis": "up", "last_poll_ms": 1_000}
    render = renderer(app).event(message(STATUS, status, 1_500))
    badge = render.set[ids.link_badge("mt5")]
    assert badge == {"children": "MT5: reconnecting — No IPC connection (-10004)", "className": "badge badge-warn"}
    assert render.set[ids.link_badge("redis")] == {"children": "Redis: up", "className": "badge badge-ok"}
    links = prop(render, ids.LINKS, "data")
    assert links["last"]["mt5"] == 1_000 and links["last"]["redis"] == 1_500
    assert links["reasons"]["mt5"] == "No IPC connection (-10004)"
    assert links["period_ms"] == 5_000


def test_a_stale_account_never_shows_mt5_connected(app: Any, runtime: Any) -> None:
    """The MT5 badge follows the monitor's staleness rule, as the stale banner does: at a page's load, when the
    account falls silent, and back once it polls again."""
    view = renderer(app)
    connected = {"children": "MT5: connected", "className": "badge badge-ok"}
    assert view.full(reload=True).set[ids.link_badge("mt5")] == connected
    row = {"login": LOGIN, "state": "live", "mt5": "connected", "stale": False, "lag_ms": 100}
    silent = {"accounts": [{**row, "state": "stale", "stale": True, "lag_ms": 12_000}]}
    render = view.event(message(ACCOUNTS, silent, account=None))
    stale = {"children": "MT5: stale — no poll from its collector for 12.0 s", "className": "badge badge-bad"}
    assert render.set[ids.link_badge("mt5")] == stale
    assert prop(render, ids.LINKS, "data")["silent"] == {"mt5": "no poll from its collector for 12.0 s"}
    assert ids.link_badge("mt5") not in view.event(message(STATUS, {"mt5": "connected"})).set, "still stale"
    assert view.full(reload=True).set[ids.link_badge("mt5")] == stale
    back = view.event(message(ACCOUNTS, {"accounts": [row]}, account=None))
    assert back.set[ids.link_badge("mt5")] == connected and prop(back, ids.LINKS, "data")["silent"] == {"mt5": None}

    runtime.monitor = AccountsMonitor(runtime.store, default_interval_ms=250, clock=lambda: time.time() + 60)
    opened = renderer(app).full(reload=True)  # a page opened while the account is silent
    assert opened.set[ids.link_badge("mt5")]["children"].startswith("MT5: stale — no poll")
    assert prop(opened, ids.LINKS, "data")["silent"]["mt5"].startswith("no poll from its collector")


def test_link_ages_are_sent_once_a_second_unless_a_status_tells_why(app: Any, runtime: Any) -> None:
    clock = [1_000.0]
    view = renderer(app, clock=lambda: clock[0])
    assert prop(view.event(message(ACCOUNT, account_at(runtime, 1.0))), ids.LINKS, "data")["batch_ts"] == 1_000_000
    clock[0] += 0.999
    assert prop(view.event(message(ACCOUNT, account_at(runtime, 2.0))), ids.LINKS, "data") is None
    assert prop(view.event(message(STATUS, {"mt5": "disconnected"})), ids.LINKS, "data")["reasons"] == {"mt5": None}
    clock[0] += 1.0
    assert prop(view.event(message(HEARTBEAT, {})), ids.LINKS, "data")["last"]["live"] == 1_001_999


def test_props_set_to_what_the_view_set_last_are_not_sent_again(app: Any, runtime: Any) -> None:
    view = renderer(app)
    first = view.event(message(ACCOUNT, account_at(runtime, 7.0)))
    again = view.event(message(ACCOUNT, account_at(runtime, 7.0)))
    assert prop(first, ids.kpi_value("equity"), "children") == "$7.00"
    assert ids.kpi_value("equity") not in again.live and again.points, "the same texts stay, the point is new"


@pytest.mark.parametrize("deal_first", [True, False])
def test_deposits_today_do_not_count_as_profit(app: Any, runtime: Any, deal_first: bool) -> None:
    view = renderer(app)
    day = view.day
    deposit = {"type": 2, "profit": 500.0, "time_utc_ms": day["start_ms"] + 1, "ticket": 1}
    equity = day["equity"] + day.get("flows", 0.0) + 520.0  # 500 deposited and 20 earned since the day start
    events = [message(DEALS, [deposit]), message(ACCOUNT, account_at(runtime, equity), day["start_ms"] + 2)]
    renders = [view.event(m) for m in (events if deal_first else events[::-1])]
    assert prop(merge(renders), ids.kpi_value("today"), "children") == "+$20.00"
    assert prop(renders[0 if deal_first else 1], ids.DEALS_VERSION, "data"), "the deal grid and analytics refetch"


def apply_transaction(rows: list[dict[str, Any]], transaction: dict[str, Any]) -> list[dict[str, Any]]:
    """What AG Grid does with a ``rowTransaction`` of a grid whose row id is ``row_id``."""
    gone = {row["row_id"] for row in transaction["remove"]}
    changed = {row["row_id"]: row for row in transaction["update"]}
    return [changed.get(r["row_id"], r) for r in rows if r["row_id"] not in gone] + transaction["add"]


def test_grids_change_by_transactions_keyed_by_ticket(app: Any) -> None:
    view = renderer(app)
    opened = view.event(message(POSITIONS, [position(1, 10.0), position(2, 20.0), position(3, 30.0)]))
    rows = view.full(reload=False).live[ids.POSITIONS_GRID]["rowData"]
    assert [r["ticket"] for r in rows] == [1, 2, 3] and prop(opened, ids.POSITIONS_COUNT, "children") == (
        "3 positions · Floating P/L +57.00 USD"
    )
    later = view.event(message(POSITIONS, [position(3, 31.0, 1.2), position(1, 10.0), position(4, 40.0)]))
    transaction = prop(later, ids.POSITIONS_GRID, "rowTransaction")
    assert [r["ticket"] for r in transaction["update"]] == [3], "only the rows that changed travel"
    assert [r["row_id"] for r in transaction["remove"]] == ["2"] and [r["ticket"] for r in transaction["add"]] == [4]
    rows = apply_transaction(rows, transaction)
    assert [(r["ticket"], r["profit"], r["row_id"]) for r in rows] == [(1, 10.0, "1"), (3, 31.0, "3"), (4, 40.0, "4")]
    assert rows[2]["side"] == "Buy" and rows[2]["time_local"] and "magic" not in rows[2], "what the columns show"
    assert prop(later, ids.POSITIONS_COUNT, "children") == "3 positions · Floating P/L +78.00 USD"
    same = view.event(message(POSITIONS, [position(3, 31.0, 1.2), position(1, 10.0), position(4, 40.0)]))
    assert ids.POSITIONS_GRID not in same.live and ids.POSITIONS_COUNT not in same.live, "no change, nothing sent"
    two = [view.event(message(POSITIONS, [position(3, 32.0), position(4, 40.0)])),
           view.event(message(POSITIONS, [position(4, 41.0)]))]  # fmt: skip
    rows = apply_transaction(rows, prop(merge(two), ids.POSITIONS_GRID, "rowTransaction"))
    assert [(r["ticket"], r["profit"]) for r in rows] == [(4, 41.0)], "two polls' changes in one transaction"


def test_messages_that_are_no_events_or_of_other_accounts_change_nothing(app: Any, runtime: Any) -> None:
    view = renderer(app)
    assert Message.of_text("not json").kind is None and Message.of_text("[1]").kind is None
    assert view.event(message(ACCOUNT, account_at(runtime, 3.0), account=42)) is None
    garbage = view.event(Message.of_text('{"type": "account", "data": [1]}', LOGIN))
    assert garbage is not None and not garbage.live and not garbage.points


def test_history_points_feed_the_figures_a_reload_draws(runtime: Any) -> None:
    from callbacks.charts import chart_outputs

    after = runtime.store.last_history_ts(LOGIN) + 1
    runtime.store.append_history(LOGIN, [HistoryPoint(after + i, 10.0, 10.0 + i, 1.0, 1000.0, 0.0) for i in range(3)])
    equity, *_, state, _ = chart_outputs(runtime, {"choice": "1h", "from_ms": after, "to_ms": None}, {}, "light")
    assert equity["data"][1]["y"] == [10.0, 11.0, 12.0]
    assert state["last_ts"] == after + 2 and state["live"] and state["rev"], "what live points continue from"


def sync(read: int, total: int, done: bool, kind: str = STATUS) -> Message:
    return message(kind, {"history_sync": {"read": read, "total": total, "done": done}}, 10)


def test_the_history_sync_shows_its_progress_and_reloads_the_charts_once_when_done(app: Any) -> None:
    view = renderer(app)
    first = view.event(sync(1_500, 3_472, False))
    assert prop(first, ids.HISTORY_SYNC, "hidden") is False
    assert prop(first, ids.HISTORY_SYNC_TEXT, "children") == "Reading history from the terminal: 1,500 of 3,472 deals"
    assert prop(first, ids.HISTORY_SYNC_BAR, "value") == 1_500 and prop(first, ids.HISTORY_SYNC_BAR, "max") == 3_472
    assert not first.reload and prop(first, ids.DEALS_VERSION, "data") is None
    same = view.event(sync(1_500, 3_472, False, HEARTBEAT))
    assert ids.HISTORY_SYNC not in same.set and ids.HISTORY_SYNC_TEXT not in same.set, "set only when it changes"
    done = view.event(sync(3_472, 3_472, True))
    assert prop(done, ids.HISTORY_SYNC, "hidden") is True
    assert done.reload and prop(done, ids.CHART_RELOAD, "data"), "the charts are drawn again"
    assert prop(done, ids.DEALS_VERSION, "data"), "the deal grid and analytics refetch"
    after = view.event(sync(3_472, 3_472, True, HEARTBEAT))
    assert not after.reload and ids.HISTORY_SYNC not in after.set, "only once"


def test_a_page_opened_after_the_sync_or_on_a_source_without_one_shows_no_progress(app: Any, runtime: Any) -> None:
    view = renderer(app)
    assert view.status["history_sync"] is None, "the demo source reads no history"
    full = view.full(reload=True)
    assert prop(full, ids.HISTORY_SYNC, "hidden") is True and ids.HISTORY_SYNC_TEXT not in full.set
    total = view.event(sync(200, 0, False))
    assert prop(total, ids.HISTORY_SYNC_TEXT, "children") == "Reading history from the terminal: 200 deals"
    assert not total.reload, "a sync starting is no reason to redraw"


def test_pages_of_one_view_share_one_rendering(app: Any, runtime: Any) -> None:
    kind = PageKind(runtime, lambda: app.server.extensions["mt5_risk"].alerts)
    hub = ViewHub({"page": kind})
    pages = [(kind.viewer(None, {"tz": "Asia/Tokyo"}), ClientQueue(10)) for _ in range(2)]
    for viewer, queue in pages:
        assert hub.join(viewer, queue).full
    assert hub.view_count() == 1
    hub.publish(message(ACCOUNT, account_at(runtime, 9.0)))
    (one,), (other,) = (queue.take(0) for _, queue in pages)
    assert one is other and one.text() is other.text(), "rendered once, encoded once"
    viewer, queue = pages[1]
    live_key = viewer.key()
    replay = {ids.CLIENT: {"tz": "Asia/Tokyo"}, ids.REPLAY: {"t_ms": 5}, ids.CHART_STATE: None}
    assert viewer.change(replay) == "key"
    moved = hub.move(viewer, live_key, queue)
    assert moved.full and not moved.live, "a replaying page gets no cards or grids"
    assert hub.view_count() == 2
    hub.leave(viewer.key(), queue)
    assert hub.view_count() == 1
