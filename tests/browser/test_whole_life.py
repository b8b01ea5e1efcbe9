"""A terminal account with months of deals before the first poll opens on its whole life, at 1280 and 390 px."""

from __future__ import annotations

import time
from typing import Any

import pytest

from layouts import ids
from services.core.protocol import event
from services.core.secret import Secret
from services.ingest.sources.mt5 import MT5Source
from tests.fakes.fake_mt5 import FakeMT5, ny_close_offset
from tests.fakes.old_account import fill_old_account
from tests.helpers import wait_until, wall_ms

pytestmark = pytest.mark.browser
LOGIN = 777

TRACES = """const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
return g && g.data ? g.data.map(t => ({name: t.name, x0: t.x.length ? t.x[0] : null, n: t.x.length})) : null;"""

WIDEST = """return Math.max(...arguments[0].map(
    id => document.getElementById(id).parentElement.getBoundingClientRect().right));"""


def balance_from_deals(dash_duo: Any) -> dict[str, Any] | None:
    traces = dash_duo.driver.execute_script(TRACES, ids.EQUITY_GRAPH) or []
    return next((t for t in traces if t["name"] == "Balance (from deals)"), None)


def test_the_page_opens_on_the_accounts_whole_life(dash_duo: Any, make_app: Any) -> None:
    fake = FakeMT5(login=LOGIN, password="pw-777", offset_s=ny_close_offset)
    account = fill_old_account(fake, time.time())
    # its daily trades run through weekends, which says nothing of the clock: it is set
    source = MT5Source(fake.module, login=LOGIN, password=Secret("pw-777"), broker_tz="ny-close")
    env = {"MT5_SOURCE": "mt5", "MT5_LOGIN": str(LOGIN), "POLL_INTERVAL_MS": "200", "HEARTBEAT_S": "60"}
    app = make_app(env, source=source)
    runtime = app.server.extensions["mt5_runtime"]
    wait_until(lambda: runtime.store.deal_count(LOGIN) == account.deals, 10, "every deal stored")
    first_ms = round(account.first_deal_s * 1000)
    dash_duo.start_server(app)
    for width, height in ((1280, 1000), (390, 900)):
        dash_duo.driver.set_window_size(width, height)
        dash_duo.driver.refresh()  # the charts are built for the width the page reports at load
        dash_duo.wait_for_contains_text(f"#{ids.ACCOUNT_TITLE}", str(LOGIN), timeout=10)
        tz = runtime.broker_zone(LOGIN)  # the page's clock by default: the broker's
        deals = wait_until(lambda: balance_from_deals(dash_duo), 15, f"the balance from deals at {width} px")
        assert deals["x0"] == wall_ms(first_ms, tz), "the balance starts at the first deposit"
        dash_duo.wait_for_contains_text(f"#{ids.CHART_NOTE}", f"balance steps from {account.deals} deals", timeout=5)
        dash_duo.wait_for_contains_text(f"#{ids.EQUITY_GRAPH}", "recorded from", timeout=5)
        assert dash_duo.find_element(f"#{ids.HISTORY_SYNC}").get_attribute("hidden") is not None
        right = dash_duo.driver.execute_script(WIDEST, [ids.EQUITY_GRAPH, ids.CHART_NOTE, ids.HISTORY_SYNC])
        assert right <= width, f"the chart, its note and the progress fit in {width} px"
    progress = {"history_sync": {"read": 1_500, "total": 3_472, "done": False}}
    runtime.store.publish(LOGIN, event("status", LOGIN, int(time.time() * 1000), progress))
    reading = "Reading history from the terminal: 1,500 of 3,472 deals"
    dash_duo.wait_for_text_to_equal(f"#{ids.HISTORY_SYNC_TEXT}", reading, timeout=5)
    assert dash_duo.find_element(f"#{ids.HISTORY_SYNC}").get_attribute("hidden") is None
    progress["history_sync"] = {"read": 3_472, "total": 3_472, "done": True}
    runtime.store.publish(LOGIN, event("status", LOGIN, int(time.time() * 1000), progress))
    wait_until(lambda: dash_duo.find_element(f"#{ids.HISTORY_SYNC}").get_attribute("hidden") is not None, 5,
               "the progress to hide when the sync is done")  # fmt: skip
    assert balance_from_deals(dash_duo)["x0"] == wall_ms(first_ms, tz), "the charts drawn again, from the deposit"
    assert dash_duo.get_logs() == []
