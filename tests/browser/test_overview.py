"""The overview page: three accounts polled the way collector processes do, side by side, live and stale."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from layouts import ids
from layouts.figures import sign_color
from services.core.formatting import money
from services.core.settings import load_settings
from services.ingest.collectors import AccountSpec
from services.ingest.sources.mirror import MirrorSource
from services.runtime import build_runtime
from tests.helpers import wait_until

pytestmark = pytest.mark.browser
ACCOUNTS = ((7201, 1, "USD", "personal"), (7202, 2, "EUR", "challenge"), (7203, 3, "USD", "funded"))


@pytest.fixture
def collectors(redis_server: Any) -> Iterator[dict[int, Any]]:
    runtimes = {}
    for login, seed, currency, _ in ACCOUNTS:
        env = {"REDIS_URL": redis_server.url, "MT5_SOURCE": "demo", "MT5_LOGIN": str(login), "DEMO_SEED": str(seed),
               "DEMO_CURRENCY": currency, "POLL_INTERVAL_MS": "200"}  # fmt: skip
        runtimes[login] = build_runtime(load_settings(env, dotenv_path=None))
        runtimes[login].start(with_fanout=False)
    yield runtimes
    for runtime in runtimes.values():
        runtime.stop()


def row_text(dash_duo: Any, login: int) -> str:
    """Read in one script: each frame redraws the rows, so a found element can go stale before it is read."""
    row = dash_duo.driver.execute_script(
        "const row = document.getElementById(arguments[0]); return row ? [row.innerText, row.className] : ['', ''];",
        ids.overview_row(login),
    )
    return " ".join(row)


def test_overview_shows_every_account_and_marks_a_silent_one_stale(
    dash_duo: Any, make_app: Any, redis_server: Any, collectors: dict[int, Any]
) -> None:
    env = {"REDIS_URL": redis_server.url, "MT5_LOGIN": "7201", "REPORT_CURRENCY": "USD", "FX_RATES": "EUR=1.10"}
    app = make_app(env, source=MirrorSource("personal", 7201, "demo"))
    runtime = app.server.extensions["mt5_runtime"]
    runtime.accounts = tuple(AccountSpec(name, login, "demo") for login, _, _, name in ACCOUNTS)
    dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + "/overview/")
    for login, _, _, name in ACCOUNTS:
        dash_duo.wait_for_contains_text(f"#{ids.overview_row(login)}", f"{name} · #{login}", timeout=15)
    wait_until(lambda: all("live" in row_text(dash_duo, login) for login, *_ in ACCOUNTS), 15, "three live rows")
    dash_duo.wait_for_contains_text(f"#{ids.OVERVIEW_SUMMARY}", "3 accounts · all live", timeout=5)
    assert "€" in row_text(dash_duo, 7202) and "$" in row_text(dash_duo, 7201)

    collectors[7202].streamer.stop()  # the account falls silent, as when its collector dies
    stored = json.loads(redis_server.client().get("mt5:7202:snapshot"))["account"]
    wait_until(lambda: "stale" in row_text(dash_duo, 7202), 5, "the silent account turns stale on the page")
    assert row_text(dash_duo, 7202).endswith("overview-row stale"), "the row is marked, not only its badge"
    assert money(stored["equity"], "EUR", 2) in row_text(dash_duo, 7202), "its last known figures stay"
    dash_duo.wait_for_contains_text(f"#{ids.OVERVIEW_SUMMARY}", "1 stale", timeout=5)
    dash_duo.wait_for_contains_text(f"#{ids.OVERVIEW_BANNER}", "challenge", timeout=5)
    assert "live" in row_text(dash_duo, 7201) and "live" in row_text(dash_duo, 7203), "the others keep streaming"

    totals = dash_duo.driver.execute_script(f"return document.getElementById('{ids.OVERVIEW_CURRENCIES}').innerText")
    assert "EUR" in totals and "USD" in totals and "All in USD" in totals
    traces = dash_duo.driver.execute_script(
        f"return document.getElementById('{ids.OVERVIEW_CHART}').querySelector('.js-plotly-plot').data"
        ".map(t => [t.x, t.y, t.marker.color]);"
    )
    (labels, gains, green), (_, losses, red) = traces
    assert labels == ["personal (USD)", "challenge (EUR)", "funded (USD)"], "one bar per account, its currency named"
    assert (green, red) == (sign_color(1, "light"), sign_color(-1, "light")), "green a profit, red a loss"
    assert all(g is None or g > 0 for g in gains) and all(v is None or v < 0 for v in losses)
    heights_px = dash_duo.driver.execute_script(
        f"return ['{ids.OVERVIEW_CHART}', '{ids.OVERVIEW_EQUITY}'].map(id => document.getElementById(id)"
        ".querySelector('.js-plotly-plot').offsetHeight);"
    )
    assert heights_px == [300, 290], "redrawn live, each chart keeps its height (the bars collapsed to a sliver)"
    curve = dash_duo.driver.execute_script(
        f"const g = document.getElementById('{ids.OVERVIEW_EQUITY}').querySelector('.js-plotly-plot');"
        "return g.data.map(t => [t.name, t.x.length, t.x.slice(-40, -20), t.y.slice(-40, -20)]);"
    )
    ((name, length, times, sums),) = curve
    assert (name, length) == ("All in USD", 1440), "one curve for all three accounts, at the user's rate, a day long"
    client, rates = redis_server.client(), {7201: 1.0, 7202: 1.10, 7203: 1.0}
    history = {login: [(int(i.split("-")[0]), float(v["equity"])) for i, v in client.xrange(f"mt5:{login}:history")]
               for login in rates}  # fmt: skip
    for at, got in zip(times, sums, strict=True):
        want = sum(rate * max(p for p in history[login] if p[0] < at)[1] for login, rate in rates.items())
        assert got == pytest.approx(want, abs=0.011), f"the accounts' equity summed at {at}"
    dash_duo.driver.execute_script(f"document.querySelector('#{ids.overview_row(7203)} a').click()")
    dash_duo.wait_for_contains_text(f"#{ids.ACCOUNT_TITLE}", "#7203", timeout=15)
    assert dash_duo.get_logs() == []


def test_an_account_page_turns_stale_when_its_collector_falls_silent(
    dash_duo: Any, make_app: Any, redis_server: Any, collectors: dict[int, Any]
) -> None:
    """Within twice the poll interval (the monitor's word), not twice the heartbeat (the page's own clock)."""
    app = make_app({"REDIS_URL": redis_server.url, "MT5_LOGIN": "7201", "HEARTBEAT_S": "30"},
                   source=MirrorSource("personal", 7201, "demo"))  # fmt: skip
    dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + "/a/7202")
    dash_duo.wait_for_contains_text(f"#{ids.ACCOUNT_TITLE}", "#7202", timeout=15)
    dash_duo.wait_for_contains_text(f"#{ids.link_badge('live')}", "connected", timeout=10)
    assert dash_duo.find_element(f"#{ids.STALE_BANNER}").text == ""
    collectors[7202].streamer.stop()
    dash_duo.wait_for_contains_text(f"#{ids.STALE_BANNER}", "no poll from its collector", timeout=5)
    assert "stale" in dash_duo.find_element(f"#{ids.link_wrap('mt5')}").get_attribute("class")
    dash_duo.wait_for_contains_text(f"#{ids.link_badge('mt5')}", "MT5: stale — no poll", timeout=5)
    collectors[7202].streamer.start()
    wait_until(lambda: dash_duo.find_element(f"#{ids.STALE_BANNER}").text == "", 15, "fresh again once it polls")
    dash_duo.wait_for_contains_text(f"#{ids.link_badge('mt5')}", "MT5: connected", timeout=5)
    assert dash_duo.get_logs() == []
