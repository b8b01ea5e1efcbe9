"""Zooming the balance/equity chart into the past in headless Chromium: live points do not join the zoomed
window, "Back to live" shows and returns to the chosen range and its live points; at 1280 and 390 px, light
and dark."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from layouts import ids
from services.core.models import HistoryPoint
from services.core.secret import Secret
from services.ingest.sources.mt5 import MT5Source
from tests.browser.test_dashboard import figure, text
from tests.fakes.fake_mt5 import FakeMT5
from tests.helpers import click, wait_until, wall_ms

pytestmark = pytest.mark.browser
LOGIN = 777
MINUTE_MS = 60_000

ZOOM = """const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
Plotly.relayout(g, {'xaxis.range[0]': arguments[1], 'xaxis.range[1]': arguments[2]});"""
EQUITY_Y = """const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
return g && g.data ? Array.from(g.data[1].y) : null;"""


def wall(x: int) -> str:
    """A chart x (the browser's wall-clock time as epoch ms) as the text a zoom's relayoutData carries."""
    return datetime.fromtimestamp(x / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def paused_shown(dash_duo: Any) -> bool:
    return dash_duo.find_element(f"#{ids.CHART_PAUSED}").get_attribute("hidden") is None


def equity_x(dash_duo: Any) -> list[int]:
    return (figure(dash_duo, ids.EQUITY_GRAPH) or {"x": [[], []]})["x"][1]


def equity_y(dash_duo: Any) -> list[float]:
    return dash_duo.driver.execute_script(EQUITY_Y, ids.EQUITY_GRAPH) or []


def move(dash_duo: Any, fake: FakeMT5, equity: float) -> None:
    """A live change of the account, waited for until the page has taken its batch (the equity card shows it)."""
    fake.set_account(equity=equity, profit=equity - 10_000.0)
    dash_duo.wait_for_text_to_equal(f"#{ids.kpi_value('equity')}", f"${equity:,.2f}", timeout=10)


def zoom_into_the_past(dash_duo: Any, start: int, end: int) -> None:
    """Zoom the balance/equity chart to [start, end] (chart x) and wait for the window it reloads."""
    dash_duo.driver.execute_script(ZOOM, ids.EQUITY_GRAPH, wall(start), wall(end))
    wait_until(lambda: paused_shown(dash_duo), 10, '"Back to live"')
    wait_until(lambda: equity_x(dash_duo) and max(equity_x(dash_duo)) <= end, 10, "the zoomed window's points")


def test_a_zoom_into_the_past_takes_no_live_points_until_back_to_live(dash_duo: Any, make_app: Any) -> None:
    now_ms = int(time.time() * 1000)
    fake = FakeMT5(login=LOGIN, password="pw-777")
    fake.add_balance(now_ms / 1000 - 5 * 3600, 10_000.0)
    source = MT5Source(fake.module, login=LOGIN, password=Secret("pw-777"), server=None, path=None)
    app = make_app({"MT5_SOURCE": "mt5", "MT5_LOGIN": str(LOGIN), "POLL_INTERVAL_MS": "150"}, source=source,
                   start=False)  # fmt: skip
    runtime = app.server.extensions["mt5_runtime"]
    # The day: equity rose $800 and fell back, recorded a minute apart from four hours ago to one.
    recorded = range(now_ms - 240 * MINUTE_MS, now_ms - 60 * MINUTE_MS, MINUTE_MS)
    rise = [10_000.0 + 800.0 * (1 - abs(i - 90) / 90) for i in range(len(recorded))]
    runtime.store.append_history(LOGIN, [HistoryPoint(t, 10_000.0, e, 0.0, 0.0, e - 10_000.0)
                                         for t, e in zip(recorded, rise, strict=True)])  # fmt: skip
    runtime.start()
    dash_duo.start_server(app)
    dash_duo.wait_for_text_to_equal(f"#{ids.kpi_value('equity')}", "$10,000.00", timeout=10)
    tz = runtime.broker_zone(LOGIN)  # the page's clock by default: the broker's
    start, end = (wall_ms(t, tz) for t in (now_ms - 200 * MINUTE_MS, now_ms - 120 * MINUTE_MS))
    wait_until(lambda: equity_x(dash_duo) and max(equity_x(dash_duo)) > end, 10, "the live window")
    assert not paused_shown(dash_duo)

    # Zoomed into the past: the window's points only, however many live changes come.
    zoom_into_the_past(dash_duo, start, end)
    assert max(equity_y(dash_duo)) > 10_700, "the rise is drawn, not a flat line"
    for equity in (10_010.0, 10_020.0, 10_030.0):
        move(dash_duo, fake, equity)
    xs = equity_x(dash_duo)
    assert start <= min(xs) and max(xs) <= end, "no live point joins the zoomed window"
    assert not {10_010.0, 10_020.0, 10_030.0} & set(equity_y(dash_duo))
    assert paused_shown(dash_duo) and "past window" in text(dash_duo, ids.CHART_PAUSED)

    # Back to live: the chosen range (All) with the points recorded meanwhile, then live points again.
    click(dash_duo, f"#{ids.CHART_LIVE}")
    wait_until(lambda: not paused_shown(dash_duo), 10, '"Back to live" to hide')
    latest = wall_ms(runtime.store.last_history_ts(LOGIN), tz)
    wait_until(lambda: max(equity_x(dash_duo)) >= latest, 10, "the points recorded while zoomed")
    move(dash_duo, fake, 10_040.0)
    wait_until(lambda: equity_y(dash_duo)[-1] == 10_040.0, 10, "a live point appended again")
    assert min(equity_x(dash_duo)) < start, "the whole range again, not the zoomed window"

    # At 390 px in the dark theme: the control shows, fits and works.
    dash_duo.driver.set_window_size(390, 900)
    click(dash_duo, f"#{ids.THEME_TOGGLE}")
    wait_until(lambda: dash_duo.driver.execute_script("return document.documentElement.dataset.theme") == "dark", 5,
               "the dark theme")  # fmt: skip
    zoom_into_the_past(dash_duo, start, end)
    move(dash_duo, fake, 10_050.0)
    assert max(equity_x(dash_duo)) <= end
    box = dash_duo.driver.execute_script(
        "const r = document.getElementById(arguments[0]).getBoundingClientRect(); return [r.left, r.right, r.width];",
        ids.CHART_PAUSED,
    )
    assert box[0] >= 0 and box[1] <= 390 and box[2] > 0, "the control fits in 390 px"
    colors = dash_duo.driver.execute_script(
        "const s = getComputedStyle(document.getElementById(arguments[0])); return [s.color, s.backgroundColor];",
        ids.CHART_LIVE,
    )
    assert colors[0] != colors[1], "readable in the dark theme"
    click(dash_duo, f"#{ids.CHART_LIVE}")
    wait_until(lambda: not paused_shown(dash_duo), 10, '"Back to live" to hide')
    move(dash_duo, fake, 10_060.0)
    wait_until(lambda: equity_y(dash_duo)[-1] == 10_060.0, 10, "live points at 390 px")
    assert dash_duo.get_logs() == []
