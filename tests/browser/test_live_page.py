"""The live page in headless Chromium: KPI values and the chart move from /ws pushes alone."""

from __future__ import annotations

import time
from typing import Any

import pytest

from layouts import ids
from services.sources.demo import DemoSource

pytestmark = pytest.mark.browser


def wait_for_change(read: Any, initial: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = read()
        if value != initial:
            return value
        time.sleep(0.1)
    raise AssertionError(f"value stayed {initial!r} for {timeout} s")


def test_kpis_and_chart_update_from_pushes(dash_duo: Any, make_app: Any) -> None:
    app = make_app({"POLL_INTERVAL_MS": "200"}, source=DemoSource(seed=11))
    dash_duo.start_server(app)
    equity = f"#{ids.kpi_value('equity')}"
    dash_duo.wait_for_contains_text(equity, "$", timeout=10)
    dash_duo.wait_for_contains_text(f"#{ids.LINK_BADGE}", "connected", timeout=10)
    dash_duo.wait_for_contains_text(f"#{ids.MT5_BADGE}", "connected", timeout=10)
    dash_duo.wait_for_contains_text(f"#{ids.ACCOUNT_TITLE}", "5000001", timeout=10)
    first = dash_duo.find_element(equity).text
    second = wait_for_change(lambda: dash_duo.find_element(equity).text, first)
    assert second.startswith("$")

    def points() -> int:
        return dash_duo.driver.execute_script(
            f"const g = document.querySelector('#{ids.EQUITY_GRAPH} .js-plotly-plot');"
            "return g && g.data && g.data.length ? g.data[1].x.length : 0;"
        )

    deadline = time.monotonic() + 10
    while points() == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    before = points()
    assert before >= 1, "the history figure is drawn from the snapshot"
    deadline = time.monotonic() + 10
    while points() <= before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert points() > before, "live points are appended to the chart"
    assert dash_duo.get_logs() == []
