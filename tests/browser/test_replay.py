"""Replay in headless Chromium: a typed moment and a clicked chart point show what the archive holds for them,
live pushes leave them alone, "Back to live" brings the live account back; at 1280 and 390 px, light and dark."""

from __future__ import annotations

import time
from datetime import timedelta, timezone, tzinfo
from typing import Any

import pytest
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.keys import Keys

from layouts import ids
from services.core.models import HistoryPoint, Order, Position
from services.core.secret import Secret
from services.core.units import HOUR_MS
from services.ingest.sources.mt5 import MT5Source
from services.storage.archive import Batch, State
from tests.browser.test_dashboard import grid_rows, text
from tests.fakes.fake_mt5 import FakeMT5, build
from tests.helpers import click, get_json, wait_until, wall_ms, wall_text

pytestmark = pytest.mark.browser
LOGIN = 777
OFFSET_S = 7_200

POINT_XY = """const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, box = g.getBoundingClientRect();
return [box.left + xa._offset + xa.l2p(arguments[1]), box.top + ya._offset + ya.l2p(arguments[2])];"""
LAST = """const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
const t = g && g.data ? g.data[arguments[1]] : null;
return t && t[arguments[2]].length ? t[arguments[2]][t[arguments[2]].length - 1] : null;"""


def position(fake: FakeMT5, ticket: int, symbol: str, profit: float, opened_ms: int) -> Position:
    server_ms = opened_ms + OFFSET_S * 1000
    record = build(fake.module.TradePosition, ticket=ticket, identifier=ticket, symbol=symbol, type=1, volume=0.2,
                   price_open=1.25, price_current=1.2512, profit=profit, time=server_ms // 1000, time_msc=server_ms,
                   time_update=server_ms // 1000, time_update_msc=server_ms)  # fmt: skip
    return Position.from_mt5(record, OFFSET_S)


def order(fake: FakeMT5, ticket: int, placed_ms: int) -> Order:
    server_ms = placed_ms + OFFSET_S * 1000
    record = build(fake.module.TradeOrder, ticket=ticket, symbol="USDJPY", type=2, volume_initial=0.3,
                   volume_current=0.3, price_open=150.5, time_setup=server_ms // 1000,
                   time_setup_msc=server_ms)  # fmt: skip
    return Order.from_mt5(record, OFFSET_S)


def type_into(dash_duo: Any, selector: str, value: str) -> None:
    field = dash_duo.find_element(selector)
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(value, Keys.ENTER)


def pick(dash_duo: Any, moment_ms: int, tz: tzinfo) -> None:
    """Type a moment into the control, in the page's clock (the broker's, the default), and ask for it."""
    wall = wall_text(moment_ms, tz)
    type_into(dash_duo, f"#{ids.REPLAY_DATE}", wall[:10])
    dash_duo.wait_for_text_to_equal(f"#{ids.REPLAY_CLOCK}", "broker time (UTC+2)")
    type_into(dash_duo, f"#{ids.REPLAY_TIME}", wall[11:19])  # Enter asks for it, as the Show button does


def cards(dash_duo: Any) -> tuple[str, str]:
    return text(dash_duo, ids.kpi_value("balance")), text(dash_duo, ids.kpi_value("equity"))


def banner_shown(dash_duo: Any) -> bool:
    return dash_duo.find_element(f"#{ids.REPLAY_BANNER}").get_attribute("hidden") is None


def test_replay_shows_the_archived_moment_until_back_to_live(dash_duo: Any, make_app: Any, tmp_path: Any) -> None:
    now_ms = int(time.time() * 1000)
    fake = FakeMT5(login=LOGIN, password="pw-777", offset_s=OFFSET_S)
    fake.add_balance(now_ms / 1000 - 5 * 3600, 10_000.0)
    live_ticket = fake.add_position("EURUSD", time_utc=now_ms / 1000 - 600, type=0, volume=0.5, price_open=1.1,
                                    price_current=1.1012, profit=60.0)  # fmt: skip
    fake.set_account(equity=10_060.0, profit=60.0, margin=110.0, margin_free=9_950.0, margin_level=9_145.45)
    source = MT5Source(fake.module, login=LOGIN, password=Secret("pw-777"), server=None, path=None, broker_tz="UTC+2")
    env = {"MT5_SOURCE": "mt5", "MT5_LOGIN": str(LOGIN), "POLL_INTERVAL_MS": "150", "DATA_DIR": str(tmp_path)}
    app = make_app(env, source=source, start=False)
    runtime = app.server.extensions["mt5_runtime"]

    # The ground truth: three recorded moments an hour apart, each with its own positions (and an order once).
    t3, t2, t1 = now_ms - 3 * HOUR_MS, now_ms - 2 * HOUR_MS, now_ms - HOUR_MS
    points = [
        HistoryPoint(t3, 9_900.0, 9_870.25, 300.0, 3_290.08, -29.75),
        HistoryPoint(t2, 10_000.0, 10_123.45, 250.0, 4_049.38, 123.45),
        HistoryPoint(t1, 10_200.0, 10_180.55, 0.0, 0.0, -19.45),
    ]
    states = [
        State(LOGIN, t3, (position(fake, 504, "AUDUSD", -29.75, t3 - 60_000),), ()),
        State(LOGIN, t2, (position(fake, 501, "GBPUSD", 100.0, t3 + 60_000),
                          position(fake, 502, "USDCHF", 23.45, t2 - 60_000)), (order(fake, 601, t2 - 30_000),)),
        State(LOGIN, t1, (), ()),
    ]  # fmt: skip
    archive = runtime.archive_reader
    archive.open()
    archive.write(Batch(points=[(LOGIN, p) for p in points], states=states))
    runtime.store.append_history(LOGIN, points)  # drawn on the chart too, to be clicked
    runtime.start()
    dash_duo.start_server(app)
    live = ("$10,000.00", "$10,060.00")
    wait_until(lambda: cards(dash_duo) == live, 10, "the live cards")
    tz = timezone(timedelta(hours=2))  # the broker's clock (BROKER_TZ UTC+2): the page's until another is picked

    # A typed moment between two records shows the earlier one.
    pick(dash_duo, t2 + 30 * 60_000, tz)
    shown = f"Showing the account at {wall_text(t2 + 30 * 60_000, tz)} (recorded {wall_text(t2, tz)})"
    dash_duo.wait_for_text_to_equal(f"#{ids.REPLAY_TEXT}", shown, timeout=10)
    dash_duo.wait_for_text_to_equal(f"#{ids.kpi_value('equity')}", "$10,123.45", timeout=5)
    assert cards(dash_duo) == ("$10,000.00", "$10,123.45")
    assert text(dash_duo, ids.kpi_value("margin_free")) == "$9,873.45"
    wait_until(lambda: set(grid_rows(dash_duo, ids.POSITIONS_GRID)) == {"501", "502"}, 5, "the positions then")
    assert grid_rows(dash_duo, ids.POSITIONS_GRID)["502"]["profit"] == "23.45"
    wait_until(lambda: set(grid_rows(dash_duo, ids.ORDERS_GRID)) == {"601"}, 5, "the order then")

    # The account moves: the chart follows, the replayed cards and grids stay.
    fake.positions[0] = build(fake.module.TradePosition, **{**fake.positions[0]._asdict(), "profit": 75.5})
    fake.set_account(equity=10_075.5, profit=75.5, margin_free=9_965.5)
    wait_until(lambda: get_json(dash_duo.server_url + "/account")["equity"] == 10_075.5, 10, "the live change")
    wait_until(lambda: dash_duo.driver.execute_script(LAST, ids.EQUITY_GRAPH, 1, "y") == 10_075.5, 10,
               "the live point on the chart")  # fmt: skip
    live_x = dash_duo.driver.execute_script(LAST, ids.EQUITY_GRAPH, 1, "x")
    wait_until(lambda: dash_duo.driver.execute_script(LAST, ids.MARGIN_GRAPH, 0, "x") == live_x, 5,
               "the rest of that batch applied (the margin chart's point)")  # fmt: skip
    assert cards(dash_duo) == ("$10,000.00", "$10,123.45")
    assert set(grid_rows(dash_duo, ids.POSITIONS_GRID)) == {"501", "502"} and banner_shown(dash_duo)

    # Back to live: the live account at once, the banner gone.
    click(dash_duo, f"#{ids.REPLAY_LIVE}")
    dash_duo.wait_for_text_to_equal(f"#{ids.kpi_value('equity')}", "$10,075.50", timeout=5)
    wait_until(lambda: grid_rows(dash_duo, ids.POSITIONS_GRID).get(str(live_ticket), {}).get("profit") == "75.50", 5,
               "the live position")  # fmt: skip
    assert set(grid_rows(dash_duo, ids.POSITIONS_GRID)) == {str(live_ticket)} and not banner_shown(dash_duo)
    assert grid_rows(dash_duo, ids.ORDERS_GRID) == {}

    # A click on a point of the balance/equity chart shows that moment, and fills the control with it.
    x, y = dash_duo.driver.execute_script(POINT_XY, ids.EQUITY_GRAPH, wall_ms(t1, tz), 10_180.55)
    action = ActionBuilder(dash_duo.driver)
    action.pointer_action.move_to_location(int(x), int(y)).click()
    action.perform()
    dash_duo.wait_for_text_to_equal(f"#{ids.REPLAY_TEXT}", f"Showing the account at {wall_text(t1, tz)} "
                                    f"(recorded {wall_text(t1, tz)})", timeout=10)  # fmt: skip
    dash_duo.wait_for_text_to_equal(f"#{ids.kpi_value('equity')}", "$10,180.55", timeout=5)
    assert cards(dash_duo) == ("$10,200.00", "$10,180.55")
    wait_until(lambda: grid_rows(dash_duo, ids.POSITIONS_GRID) == {}, 5, "no position then")
    assert dash_duo.find_element(f"#{ids.REPLAY_TIME}").get_attribute("value") == wall_text(t1, tz)[11:]

    # At 390 px in the dark theme: the earliest record, then a moment before it.
    click(dash_duo, f"#{ids.REPLAY_LIVE}")
    dash_duo.wait_for_text_to_equal(f"#{ids.kpi_value('equity')}", "$10,075.50", timeout=5)
    dash_duo.driver.set_window_size(390, 900)
    click(dash_duo, f"#{ids.THEME_TOGGLE}")
    wait_until(lambda: dash_duo.driver.execute_script("return document.documentElement.dataset.theme") == "dark", 5,
               "the dark theme")  # fmt: skip
    pick(dash_duo, t3 + 60_000, tz)
    dash_duo.wait_for_text_to_equal(f"#{ids.kpi_value('equity')}", "$9,870.25", timeout=10)
    assert cards(dash_duo) == ("$9,900.00", "$9,870.25") and banner_shown(dash_duo)
    wait_until(lambda: set(grid_rows(dash_duo, ids.POSITIONS_GRID)) == {"504"}, 5, "the position then")
    right = dash_duo.driver.execute_script(
        "return Math.max(...arguments[0].map(id => document.getElementById(id).getBoundingClientRect().right))",
        [ids.REPLAY_BANNER, ids.REPLAY_LIVE, ids.REPLAY_SHOW, ids.REPLAY_TIME],
    )
    assert right <= 390, "the banner and the control fit in 390 px"
    pick(dash_duo, t3 - HOUR_MS, tz)
    dash_duo.wait_for_text_to_equal(f"#{ids.REPLAY_MESSAGE}",
                                    f"Nothing recorded before {wall_text(t3, tz)}: pick a later moment.")  # fmt: skip
    assert cards(dash_duo) == ("$9,900.00", "$9,870.25"), "the moment shown stays until another can be"
    click(dash_duo, f"#{ids.REPLAY_LIVE}")
    dash_duo.wait_for_text_to_equal(f"#{ids.kpi_value('equity')}", "$10,075.50", timeout=5)
    assert not banner_shown(dash_duo) and text(dash_duo, ids.REPLAY_MESSAGE) == ""
    assert dash_duo.get_logs() == []
