"""The page's one clock in headless Chromium: broker time by default, then UTC and the browser's own zone picked
in the header; chart axis, grid times and the hour breakdown follow, and the choice survives a reload. The custom
range: dates typed while a preset is selected switch to Custom and apply; Custom without dates keeps the data.

The broker runs UTC+2 (``BROKER_TZ``), the browser New York (set through the DevTools protocol); the truth comes
from ``datetime`` with those zones.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.keys import Keys

from layouts import ids
from services.core.models import HistoryPoint
from services.core.secret import Secret
from services.ingest.sources.mt5 import MT5Source
from tests.browser.test_dashboard import figure, grid_rows
from tests.fakes.fake_mt5 import FakeMT5
from tests.helpers import click, wait_until, wall_ms, wall_text

pytestmark = pytest.mark.browser
LOGIN = 779
BROWSER_ZONE = "America/New_York"
ZONES = {"broker": timezone(timedelta(hours=2)), "local": ZoneInfo(BROWSER_ZONE), "utc": UTC}
PICKER = {"broker": 1, "local": 2, "utc": 3}  # the picker's labels, in CLOCKS order
AXIS = """const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
return g && g.layout && g.layout.xaxis.title ? g.layout.xaxis.title.text : null;"""
BARS = """const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
return g && g.data && g.data[0] ? g.data[0].x.filter((x, i) => g.data[0].y[i] !== 0) : null;"""


def dashboard(dash_duo: Any, make_app: Any) -> tuple[int, int, int]:
    """The app with a trade closed yesterday and a position open since two hours ago, in New York's zone;
    (the trade's close, the position's open, the last recorded point) in UTC ms."""
    now = time.time()
    fake = FakeMT5(login=LOGIN, password="pw", offset_s=7200)
    fake.add_balance(now - 3 * 86_400, 10_000.0)
    closed_s = now - 25 * 3600
    fake.add_deal(closed_s - 3600, "EURUSD", type=0, entry=0, volume=0.1, price=1.1, position_id=501)
    fake.add_deal(closed_s, "EURUSD", type=1, entry=1, volume=0.1, price=1.11, profit=100.0, position_id=501)
    opened_s = now - 2 * 3600
    fake.add_position("EURUSD", time_utc=opened_s, type=0, volume=0.1, price_open=1.1, price_current=1.1)
    source = MT5Source(fake.module, login=LOGIN, password=Secret("pw"), broker_tz="UTC+2")
    env = {"MT5_SOURCE": "mt5", "MT5_LOGIN": str(LOGIN), "BROKER_TZ": "UTC+2"}
    app = make_app(env, source=source, start=False)
    runtime = app.server.extensions["mt5_runtime"]
    now_ms = int(now * 1000)
    points = [
        HistoryPoint(t, 10_100.0, 10_100.0, 0.0, 0.0, 0.0) for t in range(now_ms - 4 * 86_400_000, now_ms, 600_000)
    ]
    runtime.store.append_history(LOGIN, points)
    runtime.start()
    dash_duo.start_server(app)
    dash_duo.driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": BROWSER_ZONE})
    dash_duo.driver.refresh()
    dash_duo.wait_for_contains_text(f"#{ids.ACCOUNT_TITLE}", str(LOGIN), timeout=10)
    return round(closed_s * 1000), round(opened_s * 1000), points[-1].ts


def position_time(dash_duo: Any) -> str | None:
    rows = grid_rows(dash_duo, ids.POSITIONS_GRID)
    return next(iter(rows.values()), {}).get("time_local") if rows else None


def shows(dash_duo: Any, choice: str, closed_ms: int, opened_ms: int, last_ms: int) -> None:
    """Every clocked part of the page in ``choice``: grid time, chart axis and x, hour breakdown, picker."""
    zone = ZONES[choice]
    wait_until(lambda: position_time(dash_duo) == wall_text(opened_ms, zone), 15, f"the position's time in {choice}")
    local_hours = ZONES["local"].utcoffset(datetime.fromtimestamp(last_ms / 1000)) // timedelta(hours=1)
    names = {"broker": "broker time (UTC+2)", "utc": "UTC", "local": f"{BROWSER_ZONE} (UTC{local_hours:+d})"}
    wait_until(lambda: dash_duo.driver.execute_script(AXIS, ids.EQUITY_GRAPH) == f"Times: {names[choice]}", 15,
               f"the axis named {choice}")  # fmt: skip
    wait_until(lambda: max(figure(dash_duo, ids.EQUITY_GRAPH)["x"][1]) >= wall_ms(last_ms, zone), 15, "chart x")
    assert max(figure(dash_duo, ids.EQUITY_GRAPH)["x"][1]) < wall_ms(last_ms, zone) + 3_600_000, f"x in {choice}"
    hour = str(datetime.fromtimestamp(closed_ms / 1000, zone).hour)
    wait_until(lambda: dash_duo.driver.execute_script(BARS, ids.ANALYTICS_BY_HOUR) == [hour], 15, f"the bar at {hour}")
    checked = f"#{ids.CLOCK_PICKER} input[value={choice}]"
    assert dash_duo.driver.execute_script(f"return document.querySelector('{checked}').checked")


def test_the_clock_picked_moves_every_time_and_is_remembered(dash_duo: Any, make_app: Any) -> None:
    closed_ms, opened_ms, last_ms = dashboard(dash_duo, make_app)
    shows(dash_duo, "broker", closed_ms, opened_ms, last_ms)  # what MT5 shows: the default
    click(dash_duo, f"#{ids.CLOCK_PICKER} label:nth-child({PICKER['utc']})")
    shows(dash_duo, "utc", closed_ms, opened_ms, last_ms)
    dash_duo.driver.refresh()
    shows(dash_duo, "utc", closed_ms, opened_ms, last_ms)
    click(dash_duo, f"#{ids.CLOCK_PICKER} label:nth-child({PICKER['local']})")
    shows(dash_duo, "local", closed_ms, opened_ms, last_ms)
    assert f"Local ({BROWSER_ZONE}" in dash_duo.find_element(f"#{ids.CLOCK_PICKER}").text
    assert dash_duo.get_logs() == []


def type_date(dash_duo: Any, which: int, day: str) -> None:
    field = dash_duo.wait_for_element(f"#{ids.RANGE_DATE_INPUTS[which]}", timeout=10)
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(day, Keys.TAB)


def test_dates_typed_under_a_preset_switch_to_custom_and_custom_without_dates_keeps_the_data(
    dash_duo: Any, make_app: Any
) -> None:
    _, _, last_ms = dashboard(dash_duo, make_app)
    wait_until(lambda: figure(dash_duo, ids.EQUITY_GRAPH) and figure(dash_duo, ids.EQUITY_GRAPH)["x"][1], 15, "chart")
    everything = figure(dash_duo, ids.EQUITY_GRAPH)["x"][1]

    click(dash_duo, f"#{ids.RANGE_BUTTONS} label:nth-child(6)")  # Custom, no dates yet
    dash_duo.wait_for_contains_text(f"#{ids.RANGE_HINT}", "pick a first and a last day", timeout=10)
    assert figure(dash_duo, ids.EQUITY_GRAPH)["x"][1] == everything, "the data shown stays"

    click(dash_duo, f"#{ids.RANGE_BUTTONS} label:nth-child(2)")  # Today
    dash_duo.wait_for_text_to_equal(f"#{ids.RANGE_HINT}", "", timeout=10)
    broker = ZONES["broker"]
    day = (datetime.fromtimestamp(last_ms / 1000, broker) - timedelta(days=2)).date()
    type_date(dash_duo, 0, day.isoformat())
    dash_duo.wait_for_contains_text(f"#{ids.RANGE_HINT}", "the last day too", timeout=10)
    type_date(dash_duo, 1, day.isoformat())
    checked = f"#{ids.RANGE_BUTTONS} input[value=custom]"
    wait_until(lambda: dash_duo.driver.execute_script(f"return document.querySelector('{checked}').checked"), 10,
               "Custom selected by the dates")  # fmt: skip
    start = wall_ms(round(datetime.combine(day, datetime.min.time(), broker).timestamp() * 1000), broker)

    def the_day() -> list[int] | None:
        xs = figure(dash_duo, ids.EQUITY_GRAPH)["x"][1]
        return xs if xs and min(xs) >= start and max(xs) < start + 86_400_000 else None

    assert len(wait_until(the_day, 15, "the broker day's points only")) == 144, "a point every 10 minutes"
    assert dash_duo.find_element(f"#{ids.RANGE_HINT}").text == ""
    assert dash_duo.get_logs() == []
