"""The dashboard in headless Chromium: every panel filled and moved by pushes, healing, ranges, theme."""

from __future__ import annotations

import time
from typing import Any

import pytest

from layouts import ids
from services.core.models import HistoryPoint
from services.core.secret import Secret
from services.ingest.sources.demo import DemoSource
from services.ingest.sources.mt5 import MT5Source
from tests.conftest import free_port
from tests.fakes.fake_mt5 import FakeMT5, build
from tests.helpers import click, get_json, wait_until

pytestmark = pytest.mark.browser
LOGIN = 5_000_001


def text(dash_duo: Any, component_id: str) -> str:
    return dash_duo.find_element(f"#{component_id}").text


def grid_rows(dash_duo: Any, grid_id: str) -> dict[str, dict[str, str]]:
    """Rendered rows of an AG Grid by row id, each as {column id: cell text}."""
    return dash_duo.driver.execute_script(
        """const rows = {};
        document.querySelectorAll('#' + arguments[0] + ' .ag-center-cols-container .ag-row').forEach(function (row) {
            const cells = {};
            row.querySelectorAll('.ag-cell').forEach(function (c) { cells[c.getAttribute('col-id')] = c.innerText; });
            rows[row.getAttribute('row-id')] = cells;
        });
        return rows;""",
        grid_id,
    )


def figure(dash_duo: Any, graph_id: str) -> dict[str, Any]:
    return dash_duo.driver.execute_script(
        "const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "return g && g.data ? {x: g.data.map(t => t.x), range: g.layout.xaxis.range,"
        " font: g.layout.template && g.layout.template.layout.font ? g.layout.template.layout.font.color : null}"
        " : null;",
        graph_id,
    )


def test_kpis_equal_the_account_and_every_panel_fills(dash_duo: Any, make_app: Any) -> None:
    app = make_app({"POLL_INTERVAL_MS": "200"}, source=DemoSource(seed=11))
    dash_duo.start_server(app)
    dash_duo.wait_for_contains_text(f"#{ids.ACCOUNT_TITLE}", str(LOGIN), timeout=10)
    dash_duo.wait_for_contains_text(f"#{ids.TRADE_MODE}", "DEMO", timeout=5)
    dash_duo.wait_for_contains_text(f"#{ids.link_badge('live')}", "connected", timeout=5)
    dash_duo.wait_for_contains_text(f"#{ids.link_badge('mt5')}", "connected", timeout=5)
    runtime = app.server.extensions["mt5_runtime"]
    runtime.streamer.request("disconnect").result(5)  # freeze the account so page and API can be compared

    def cards_match() -> bool:
        account = get_json(dash_duo.server_url + "/account")
        return (
            text(dash_duo, ids.kpi_value("equity")) == f"${account['equity']:,.2f}"
            and text(dash_duo, ids.kpi_value("balance")) == f"${account['balance']:,.2f}"
        )

    wait_until(cards_match, 10, "KPI cards equal to /account")
    assert "today" in text(dash_duo, ids.kpi_delta("equity"))
    assert text(dash_duo, ids.kpi_value("today")).startswith(("+$", "-$", "$"))
    wait_until(lambda: len(grid_rows(dash_duo, ids.POSITIONS_GRID)) > 0, 10, "position rows")
    wait_until(lambda: len(grid_rows(dash_duo, ids.DEALS_GRID)) > 0, 10, "deal rows")
    wait_until(lambda: (figure(dash_duo, ids.DRAWDOWN_GRAPH) or {}).get("x"), 10, "the drawdown chart")
    dash_duo.wait_for_contains_text(f"#{ids.link_badge('mt5')}", "disconnected", timeout=5)
    assert dash_duo.get_logs() == []


def test_positions_follow_the_terminal_and_a_close_moves_to_deals(dash_duo: Any, make_app: Any) -> None:
    fake = FakeMT5(login=777, password="pw-777")
    now = time.time()
    fake.add_balance(now - 7200, 10_000.0)
    ticket = fake.add_position("EURUSD", time_utc=now - 600, type=0, volume=0.5, price_open=1.1, price_current=1.1012,
                               profit=60.0, identifier=9001)  # fmt: skip
    source = MT5Source(fake.module, login=777, password=Secret("pw-777"), server=None, path=None)
    app = make_app({"POLL_INTERVAL_MS": "150", "MT5_SOURCE": "mt5", "MT5_LOGIN": "777"}, source=source)
    dash_duo.start_server(app)
    row_id = str(ticket)
    rows = wait_until(lambda: grid_rows(dash_duo, ids.POSITIONS_GRID).get(row_id, {}).get("profit") and
                      grid_rows(dash_duo, ids.POSITIONS_GRID)[row_id], 10, "the open position")  # fmt: skip
    api_row = get_json(dash_duo.server_url + "/positions")[0]
    assert rows["symbol"] == api_row["symbol"] == "EURUSD"
    assert rows["profit"] == "60.00" and rows["side"] == "Buy"

    fake.positions[0] = build(fake.module.TradePosition, **{**fake.positions[0]._asdict(), "profit": 75.5})
    wait_until(lambda: grid_rows(dash_duo, ids.POSITIONS_GRID).get(row_id, {}).get("profit") == "75.50", 10,
               "the profit cell to change in place")  # fmt: skip

    fake.positions.clear()
    fake.add_deal(time.time(), "EURUSD", type=1, entry=1, volume=0.5, price=1.1015, profit=75.5, position_id=9001)
    wait_until(lambda: row_id not in grid_rows(dash_duo, ids.POSITIONS_GRID), 10, "the closed position to leave")
    wait_until(
        lambda: any(r.get("position_id") == "9001" and r.get("entry_name") == "Out"
                    for r in grid_rows(dash_duo, ids.DEALS_GRID).values()),
        10,
        "the closing deal in the deal history",
    )  # fmt: skip
    assert dash_duo.get_logs() == []


def test_pushes_reach_the_page_with_no_dash_request_per_batch(
    dash_duo: Any, make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KPI change and a position opened and closed reach the DOM from the server's rendering of the page's
    view; the only Dash requests on the way are those a new deal calls for (the deal grid, the analytics)."""
    from flask import request

    from api import outbox

    frames: list[int] = []  # the seq of every render frame sent to the page
    render_frame = outbox.render_frame
    monkeypatch.setattr(outbox, "render_frame", lambda *args: frames.append(args[2]) or render_frame(*args))
    fake = FakeMT5(login=778, password="pw-778")
    fake.add_balance(time.time() - 7200, 10_000.0)
    source = MT5Source(fake.module, login=778, password=Secret("pw-778"), server=None, path=None)
    env = {"POLL_INTERVAL_MS": "150", "HEARTBEAT_S": "1", "MT5_SOURCE": "mt5", "MT5_LOGIN": "778"}
    app = make_app(env, source=source)
    requests: list[str] = []  # the outputs of every Dash callback request, in turn

    @app.server.after_request
    def count(response: Any) -> Any:
        if request.path == "/_dash-update-component":
            requests.append(str((request.get_json(silent=True) or {}).get("output")))
        return response

    def quiet() -> bool:
        """Three frames (a heartbeat's at least each second) go to the page without a Dash request."""
        before, sent = len(requests), len(frames)
        wait_until(lambda: len(frames) >= sent + 3, 10, "three frames")
        return len(requests) == before

    dash_duo.start_server(app)
    dash_duo.wait_for_contains_text(f"#{ids.ACCOUNT_TITLE}", "778", timeout=10)
    wait_until(lambda: (figure(dash_duo, ids.EQUITY_GRAPH) or {}).get("x"), 10, "the charts")
    wait_until(quiet, 30, "the page to settle")
    before, sent = len(requests), len(frames)

    fake.set_account(equity=12_345.67, profit=2_345.67)
    ticket = fake.add_position("EURUSD", time_utc=time.time() - 60, type=1, volume=0.2, price_open=1.1,
                               price_current=1.09, profit=200.0, identifier=9101)  # fmt: skip
    dash_duo.wait_for_text_to_equal(f"#{ids.kpi_value('equity')}", "$12,345.67", timeout=10)
    wait_until(lambda: grid_rows(dash_duo, ids.POSITIONS_GRID).get(str(ticket), {}).get("side") == "Sell", 10,
               "the new position's row")  # fmt: skip
    wait_until(lambda: len(frames) >= sent + 3, 10, "three frames more")
    assert requests[before:] == [], "no Dash request while pushes change the cards and the grid"

    before = len(requests)
    fake.positions.clear()
    fake.add_deal(time.time(), "EURUSD", type=0, entry=1, volume=0.2, price=1.09, profit=200.0, position_id=9101)
    wait_until(lambda: str(ticket) not in grid_rows(dash_duo, ids.POSITIONS_GRID), 10, "the closed position to leave")
    wait_until(lambda: any(r.get("position_id") == "9101" for r in grid_rows(dash_duo, ids.DEALS_GRID).values()), 10,
               "the closing deal in the deal history")  # fmt: skip
    new_deal = [output for output in requests[before:] if ids.DEALS_GRID in output or "analytics" in output]
    assert new_deal and new_deal == requests[before:], "the new deal's requests, and none per batch"
    assert dash_duo.get_logs() == []


def test_range_selector_bounds_points_over_100k_stored(dash_duo: Any, make_app: Any, redis_server: Any) -> None:
    app = make_app({"REDIS_URL": redis_server.url}, source=DemoSource(seed=12), start=False)
    runtime = app.server.extensions["mt5_runtime"]
    now_ms = int(time.time() * 1000)
    start = now_ms - 100_000 * 5_000  # 100k points, 5 s apart: about 6 days
    points = [HistoryPoint(start + i * 5_000, 10_000.0 + (i // 5_000), 10_000.0 + (i % 997) - 400, 100.0, 9000.0, 0.0)
              for i in range(100_000)]  # fmt: skip
    for chunk in range(0, len(points), 10_000):
        runtime.store.append_history(LOGIN, points[chunk : chunk + 10_000])
    runtime.start()
    dash_duo.start_server(app)
    dash_duo.wait_for_contains_text(f"#{ids.ACCOUNT_TITLE}", str(LOGIN), timeout=10)
    everything = wait_until(lambda: figure(dash_duo, ids.EQUITY_GRAPH), 10, "the chart")  # All, the default
    click(dash_duo, f"#{ids.RANGE_BUTTONS} label:nth-child(2)")  # Today

    def today_range() -> dict[str, Any] | None:
        shown = figure(dash_duo, ids.EQUITY_GRAPH)
        return shown if shown and shown["range"][0] > everything["range"][0] else None

    today = wait_until(today_range, 15, "the x range to narrow")
    click(dash_duo, f"#{ids.RANGE_BUTTONS} label:nth-child(5)")  # All
    dash_duo.wait_for_contains_text(f"#{ids.CHART_NOTE}", "stored", timeout=15)

    def all_range() -> dict[str, Any] | None:
        shown = figure(dash_duo, ids.EQUITY_GRAPH)
        return shown if shown and shown["range"] != today["range"] and shown["range"][0] < today["range"][0] else None

    shown = wait_until(all_range, 15, "the x range to widen")
    width = dash_duo.driver.execute_script("return window.innerWidth")
    assert 100 <= len(shown["x"][1]) <= 2 * width + 50, "downsampled to about the chart's width"
    assert "rollup" in text(dash_duo, ids.CHART_NOTE)
    assert dash_duo.get_logs() == []


def test_the_charts_load_at_every_page_load(dash_duo: Any, make_app: Any) -> None:
    """An autosize's relayoutData must not start a chart load: two loads at once, and Dash keeps only the last."""
    app = make_app({"POLL_INTERVAL_MS": "250"}, source=DemoSource(seed=15))
    dash_duo.start_server(app)
    for _ in range(6):
        wait_until(lambda: (f := figure(dash_duo, ids.EQUITY_GRAPH)) and f["x"] and len(f["x"][0] or []) > 0, 15,
                   "the balance/equity chart drawn")  # fmt: skip
        dash_duo.driver.refresh()
    assert dash_duo.get_logs() == []


def test_dark_theme_applies_and_is_remembered(dash_duo: Any, make_app: Any) -> None:
    app = make_app(source=DemoSource(seed=13))
    dash_duo.start_server(app)
    dash_duo.wait_for_contains_text(f"#{ids.ACCOUNT_TITLE}", str(LOGIN), timeout=10)
    wait_until(lambda: figure(dash_duo, ids.EQUITY_GRAPH), 10, "the chart")
    click(dash_duo, f"#{ids.THEME_TOGGLE}")
    wait_until(lambda: dash_duo.driver.execute_script("return document.documentElement.dataset.theme") == "dark", 5,
               "the dark theme on the page")  # fmt: skip
    wait_until(lambda: figure(dash_duo, ids.EQUITY_GRAPH)["font"] == "#f2f5fa", 5, "the dark chart template")
    dash_duo.driver.refresh()
    wait_until(lambda: dash_duo.driver.execute_script("return document.documentElement.dataset.theme") == "dark", 10,
               "the theme remembered after a reload")  # fmt: skip
    assert text(dash_duo, ids.THEME_TOGGLE) == "Light theme"
    assert dash_duo.get_logs() == []


def test_page_heals_after_a_server_restart_without_duplicate_points(
    dash_duo: Any, make_app: Any, serve: Any, redis_server: Any
) -> None:
    port = free_port()
    env = {"REDIS_URL": redis_server.url, "POLL_INTERVAL_MS": "200", "HEARTBEAT_S": "1"}
    first = make_app(env, source=DemoSource(seed=14))
    live = serve(first.server, port=port)
    dash_duo.driver.get(live.url)
    dash_duo.wait_for_contains_text(f"#{ids.link_badge('live')}", "connected", timeout=10)
    wait_until(lambda: len((figure(dash_duo, ids.EQUITY_GRAPH) or {"x": [[]]})["x"][0]) > 3, 10, "live points")
    first.server.extensions["mt5_runtime"].stop()
    live.stop()
    dash_duo.wait_for_contains_text(f"#{ids.link_badge('live')}", "reconnecting", timeout=10)
    dash_duo.wait_for_contains_text(f"#{ids.STALE_BANNER}", "stale", timeout=10)
    expected = ("WebSocket connection", "ERR_CONNECTION_REFUSED", "Failed to fetch", "Callback failed",
                "WebSocket is already in CLOSING or CLOSED state",
                "/_dash-update-component")  # a callback the outage cut off, its text maybe elided  # fmt: skip

    def only_outage_errors() -> None:
        """While the server is away, the browser logs each refused reconnect: those, and nothing else."""
        outage = dash_duo.get_logs()
        assert all(any(sign in entry["message"] for sign in expected) for entry in outage), outage

    only_outage_errors()
    second = make_app(env, source=DemoSource(seed=14))
    serve(second.server, port=port)
    dash_duo.wait_for_contains_text(f"#{ids.link_badge('live')}", "connected", timeout=20)
    only_outage_errors()  # a reconnect may have been refused just before the second server listened
    wait_until(lambda: text(dash_duo, ids.STALE_BANNER) == "", 10, "the stale banner to clear")
    time.sleep(1.5)
    xs = figure(dash_duo, ids.EQUITY_GRAPH)["x"][1]
    assert len(xs) == len(set(xs)), "no duplicate timestamps after the resync"
    assert xs == sorted(xs)
    assert dash_duo.get_logs() == []


TOAST_RECORDER = """
window.toastsSeen = "";
const toasts = document.getElementById(arguments[0]);
const record = () => { window.toastsSeen += toasts.innerText; };
new MutationObserver(record).observe(toasts, {childList: true, subtree: true});
"""


def test_a_breached_rule_shows_in_the_panel_the_banner_and_a_toast(dash_duo: Any, make_app: Any, tmp_path: Any) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - id: drawdown\n    kind: drawdown\n    limit: 100\n    unit: money\n", encoding="utf-8"
    )
    source = DemoSource(seed=11)
    app = make_app({"POLL_INTERVAL_MS": "150", "RULES_FILE": str(rules)}, source=source)
    runtime = app.server.extensions["mt5_runtime"]
    dash_duo.start_server(app)
    dash_duo.wait_for_contains_text(f"#{ids.RULES_ROWS}", "Drawdown", timeout=10)
    assert text(dash_duo, ids.ALERTS_BANNER) == ""
    dash_duo.driver.execute_script(TOAST_RECORDER, ids.ALERTS_TOASTS)  # a toast lives 10 s: a slow check could miss it
    for _ in range(30):  # move every held symbol against its positions until the rule breaches
        if "breached" in text(dash_duo, ids.RULES_ROWS):
            break
        for position in {p.symbol: p for p in runtime.streamer.latest().positions}.values():
            source.shock(position.symbol, -1.0 if position.type == 0 else 1.0)
        time.sleep(0.4)
    dash_duo.wait_for_contains_text(f"#{ids.RULES_ROWS}", "breached", timeout=10)
    dash_duo.wait_for_contains_text(f"#{ids.ALERTS_BANNER}", "breached", timeout=5)
    wait_until(lambda: "Drawdown from peak breached" in dash_duo.driver.execute_script("return window.toastsSeen"), 10,
               "the breach's toast")  # fmt: skip
    assert dash_duo.get_logs() == []
