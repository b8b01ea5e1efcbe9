"""``/stats``, ``/trades`` and every export (CSV, charts, the report) on the demo account, through Flask's test client.

PNG and SVG are drawn for real by kaleido with the system Chromium; a missing or hung browser is simulated.
"""

from __future__ import annotations

import asyncio
import csv
import html as html_text
import io
import re
import struct
import sys
import time
import types
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kaleido.errors  # noqa: F401 - loaded before a test swaps the kaleido package for a stand-in
import pytest
from choreographer.browsers.chromium import Chromium
from dash import html

from callbacks.analytics import analytics_outputs
from layouts.analytics import CHART_NAMES, STAT_ROWS, chart_links
from services.analytics import charts_export
from services.analytics.csv_export import utc_iso
from services.analytics.period import build_report
from services.analytics.stats import STAT_KEYS
from services.core.formatting import money
from services.ingest.sources.demo import DemoSource
from services.ingest.sources.mt5 import MT5Source
from tests.conftest import RedisServer
from tests.fakes.fake_mt5 import FakeMT5
from tests.helpers import plotted, wait_until

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1_780_000_000.0

    def __call__(self) -> float:
        return self.now


def demo_source(seed: int = 11) -> DemoSource:
    clock = Clock()
    return DemoSource(seed=seed, clock=clock, start_utc_s=clock.now - 5 * 86_400)


@pytest.fixture
def demo_app(make_app: Any) -> Any:
    app = make_app(source=demo_source(), start=False)
    app.server.extensions["mt5_runtime"].streamer.step()
    return app


@pytest.fixture(scope="module")
def bare_client() -> Iterator[Any]:
    """An app whose source has not been polled: parameters are checked before any data is read."""
    from app import create_app
    from services.core.settings import load_settings
    from services.runtime import build_runtime

    settings = load_settings({"REDIS_URL": "embedded"}, dotenv_path=None)
    app = create_app(settings, build_runtime(settings, source=demo_source()), start=False)
    yield app.server.test_client()
    app.server.extensions["mt5_runtime"].stop()


def rows_of(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_stats_has_every_key_and_agrees_with_trades(demo_app: Any) -> None:
    client = demo_app.server.test_client()
    stats = client.get("/stats").get_json()
    assert set(stats) == {*STAT_KEYS, "notes"}
    trades = client.get("/trades").get_json()
    assert trades["count"] == len(trades["trades"]) == stats["trades"] > 20
    nets = [t["net"] for t in trades["trades"]]
    assert stats["net_profit"] == round(sum(nets), 2)
    assert stats["gross_profit"] == round(sum(n for n in nets if n > 0), 2)
    assert stats["long_trades"] == sum(1 for t in trades["trades"] if t["direction"] == "buy")
    assert stats["deposits"] == 10_000.0 and stats["withdrawals"] == 0.0
    closes = [t["close_time_utc_ms"] for t in trades["trades"]]
    assert closes == sorted(closes)


def test_stats_equal_an_independent_computation_from_the_raw_deals(demo_app: Any) -> None:
    """The demo opens and closes whole positions, so a sum per position_id over /deals is each trade."""
    client = demo_app.server.test_client()
    deals = client.get("/deals").get_json()["deals"]
    money: dict[int, float] = defaultdict(float)
    closed, side = set(), {}
    for d in deals:
        if d["type"] in (0, 1):
            money[d["position_id"]] += d["profit"] + d["commission"] + d["swap"] + d["fee"]
            side.setdefault(d["position_id"], d["type"])
            if d["entry"] == 1:
                closed.add(d["position_id"])
    nets = [money[p] for p in closed]
    stats = client.get("/stats").get_json()
    assert stats["trades"] == len(closed)
    assert stats["net_profit"] == round(sum(nets), 2)
    assert stats["gross_loss"] == round(sum(n for n in nets if n < 0), 2)
    assert stats["win_rate"] == pytest.approx(sum(1 for n in nets if n > 0) / len(nets))
    assert stats["short_trades"] == sum(1 for p in closed if side[p] == 1)
    commission = sum(d["commission"] for d in deals if d["position_id"] in closed)
    assert stats["commission"] == round(commission, 2)
    assert stats["swap"] == round(sum(d["swap"] for d in deals if d["position_id"] in closed), 2)


def test_a_few_days_of_history_give_no_ratios_but_the_reason_in_stats_csv_page_and_report(demo_app: Any) -> None:
    """The demo simulates 5 days: too few daily returns for Sharpe, Sortino and Calmar."""
    client = demo_app.server.test_client()
    stats = client.get("/stats").get_json()
    reason = stats["notes"]["sharpe"]
    found = re.fullmatch(r"needs 20 daily returns, has (\d+)", reason)
    assert found and 1 <= int(found[1]) < 20, reason
    assert stats["notes"]["sortino"] == stats["notes"]["calmar"] == reason
    assert stats["sharpe"] is stats["sortino"] is stats["calmar"] is None
    assert stats["max_drawdown"] is not None and stats["max_drawdown_daily_pct"] is not None
    notes = {row["statistic"]: row["note"] for row in rows_of(client.get("/export/stats.csv"))}
    assert notes["calmar"] == reason and notes["net_profit"] == ""
    panel = analytics_outputs(demo_app.server.extensions["mt5_runtime"], None)[0]
    shown = {row.children[0].children: row.children[1].children for row in panel.children}
    assert shown["Sharpe ratio"] == shown["Calmar ratio"] == f"— ({reason})"
    page = client.get("/export/report.html").get_data(as_text=True)
    assert f"<span>Sortino ratio</span><strong>{html_text.escape(f'— ({reason})')}</strong>" in page


def test_demo_history_reconciles_to_the_cent(demo_app: Any) -> None:
    runtime = demo_app.server.extensions["mt5_runtime"]
    latest = runtime.streamer.latest()
    report = build_report(runtime.store, latest.account.login, latest.account, server_offset_s=7200)
    assert report.reconciliation is not None and report.reconciliation.ok
    assert report.reconciliation.mismatch == 0.0
    assert report.reconciliation.expected_balance == latest.account.balance


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/stats?from=yesterday", "from"),
        ("/trades?to=2026-13-45", "to"),
        ("/stats?from=2026-02-01&to=2026-01-01", "from"),
        ("/stats?periods=0", "periods"),
        ("/stats?periods=367", "periods"),
        ("/stats?periods=1e3", "periods"),
        ("/stats?periods=²", "periods"),
        ("/export/deals.csv?from=soon", "from"),
        ("/export/stats.csv?periods=-5", "periods"),
        ("/export/passwords.csv", "name"),
        ("/export/deals.xlsx", "name"),
        ("/export/chart/equity", "name"),
        ("/export/chart/balance.png", "chart"),
        ("/export/chart/equity.pdf", "format"),
        ("/export/chart/by_symbol.PNG", "format"),
        ("/export/chart/equity.svg?to=2026-02-30", "to"),
        ("/export/chart/monthly.html?from=2026-02-01&to=2026-01-01", "from"),
        ("/export/report.html?from=2026-02-01T00:00:00Z&to=2026-01-31T23:59:59Z", "from"),
        ("/export/report.html?from=last%20week", "from"),
        ("/export/report.html?periods=0", "periods"),
    ],
)
def test_bad_parameters_get_a_400_naming_them(bare_client: Any, path: str, parameter: str) -> None:
    response = bare_client.get(path)
    assert response.status_code == 400
    body = response.get_json()
    assert body["parameter"] == parameter and body["status"] == 400 and body["error"].startswith(parameter)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/export/nope.csv", "deals, trades, positions, orders, equity, stats"),
        ("/export/deals.xlsx", "deals.csv, trades.csv"),
        ("/export/deals.xlsx", "report.html, chart/<chart>.<png|svg|html>"),
        ("/export/chart/nope.png", ", ".join(CHART_NAMES)),
        ("/export/chart/equity.jpg", "png, svg, html"),
    ],
)
def test_an_unknown_name_chart_or_format_lists_the_allowed_values(bare_client: Any, path: str, allowed: str) -> None:
    response = bare_client.get(path)
    assert response.status_code == 400 and allowed in response.get_json()["error"]


def test_an_empty_range_gives_empty_results(demo_app: Any) -> None:
    """A range before the first deposit: a later one has a balance, drawn from the deals."""
    client = demo_app.server.test_client()
    query = {"from": "2020-01-01", "to": "2020-01-31"}
    stats = client.get("/stats", query_string=query).get_json()
    assert stats["trades"] == 0 and stats["net_profit"] == 0.0 and stats["profit_factor"] is None
    assert client.get("/trades", query_string=query).get_json()["count"] == 0
    for name in ("deals", "trades", "positions", "orders", "equity"):
        response = client.get(f"/export/{name}.csv", query_string=query)
        assert response.status_code == 200 and rows_of(response) == [], name
        assert response.get_data(as_text=True).count("\n") == 1, f"{name}: the header row alone"
    report = client.get("/export/report.html", query_string=query)
    assert report.status_code == 200 and "No trades in this range." in report.get_data(as_text=True)
    for chart, message in (("equity", "No history in this range"), ("by_symbol", "No closed trades in this range")):
        response = client.get(f"/export/chart/{chart}.html", query_string=query)
        assert response.status_code == 200 and message in response.get_data(as_text=True)


def test_deals_export_streams_every_deal_as_an_attachment(demo_app: Any) -> None:
    client = demo_app.server.test_client()
    response = client.get("/export/deals.csv", query_string={"from": "2026-05-26", "to": "2026-05-27"})
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response.headers["Content-Disposition"] == 'attachment; filename="mt5-5000001-deals-2026-05-26_2026-05-27.csv"'
    )
    rows = rows_of(response)
    listed = client.get("/deals", query_string={"from": "2026-05-26", "to": "2026-05-27"}).get_json()
    assert len(rows) == listed["count"] > 0
    assert [int(r["ticket"]) for r in rows] == [d["ticket"] for d in listed["deals"]]
    assert round(sum(float(r["profit"]) for r in rows), 2) == round(sum(d["profit"] for d in listed["deals"]), 2)
    everything = rows_of(client.get("/export/deals.csv"))
    assert len(everything) == client.get("/deals").get_json()["count"]
    assert everything[0]["time_utc"].endswith("Z") and everything[0]["kind"] == "deposit"


def test_every_table_exports_and_an_unknown_name_is_a_400(demo_app: Any) -> None:
    client = demo_app.server.test_client()
    runtime = demo_app.server.extensions["mt5_runtime"]
    latest = runtime.streamer.latest()
    expected = {
        "trades": client.get("/trades").get_json()["count"],
        "positions": len(latest.positions),
        "orders": len(latest.orders),
        "equity": runtime.store.history_length(5_000_001),
        "stats": len(STAT_KEYS),
    }
    for name, count in expected.items():
        response = client.get(f"/export/{name}.csv")
        assert response.status_code == 200, name
        assert response.headers["Content-Disposition"] == f'attachment; filename="mt5-5000001-{name}-start_now.csv"'
        assert len(rows_of(response)) == count, name
    missing = client.get("/export/passwords.csv")
    assert missing.status_code == 400
    assert missing.get_json()["parameter"] == "name" and "deals, trades" in missing.get_json()["error"]


def test_redis_down_is_a_503_never_a_cut_off_csv(redis_server: RedisServer, make_app: Any) -> None:
    app = make_app({"REDIS_URL": redis_server.url}, source=demo_source(), start=False)
    app.server.extensions["mt5_runtime"].streamer.step()
    client = app.server.test_client()
    assert client.get("/stats").status_code == 200
    redis_server.stop()
    paths = ("/stats", "/trades", "/export/deals.csv", "/export/equity.csv")
    for path in (*paths, "/export/chart/equity.html", "/export/chart/monthly.png", "/export/report.html"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert "Redis is unavailable" in response.get_json()["error"]


def test_while_redis_is_down_the_history_chart_export_draws_from_the_archive(
    redis_server: RedisServer, make_app: Any
) -> None:
    app = make_app({"REDIS_URL": redis_server.url}, source=demo_source(), start=False)
    runtime = app.server.extensions["mt5_runtime"]
    runtime.archive.start()
    try:
        wait_until(lambda: runtime.archive.opened, 10, "the archive opened")
        runtime.streamer.step()
        wait_until(lambda: runtime.archive_reader.point_at(runtime.login(), 2**62) is not None, 10, "a point archived")
        redis_server.stop()
        client = app.server.test_client()
        chart = client.get("/export/chart/equity.html")
        assert chart.status_code == 200, "the chart is drawn from the archive"
        assert client.get("/export/deals.csv").status_code == 503, "a CSV of Redis's deals is never cut off"
    finally:
        runtime.archive.stop()


def test_no_account_yet_is_a_503(make_app: Any) -> None:
    """A terminal not polled yet, and no MT5_LOGIN to name the account: there is nothing to read."""
    source = MT5Source(FakeMT5().module)
    client = make_app({"MT5_SOURCE": "mt5"}, source=source, start=False).server.test_client()
    for path in ("/stats", "/trades", "/export/deals.csv", "/export/chart/equity.png", "/export/report.html"):
        assert client.get(path).status_code == 503, path


def test_the_panels_are_drawn_from_the_report(demo_app: Any) -> None:
    runtime = demo_app.server.extensions["mt5_runtime"]
    stats_panel, check, links, monthly, *bars, drawdowns = analytics_outputs(runtime, {"from_ms": None, "to_ms": None})
    net = next(c for c in stats_panel.children if c.children[0].children == "Net profit").children[1].children
    assert net == _money_text(runtime)
    assert "reconciles" in check.children
    first = next(a.href for a in links if isinstance(a, html.A))
    assert first == "/export/deals.csv?tz=server", "the links name the page's clock: broker time by default"
    assert monthly.data[0].type == "heatmap" and len(bars) == 5
    assert all(figure.data for figure in bars)
    assert drawdowns.children[0].children == "Deepest drawdowns (times in broker time (UTC+2))", "the clock is named"
    assert links[-1].href == "/export/report.html?tz=server"
    ranged = analytics_outputs(runtime, {"from_ms": 1_779_000_000_000, "to_ms": None})[2]
    assert "from=2026-05-17T06%3A40%3A00.000Z" in ranged[1].href
    assert ranged[-1].href == "/export/report.html?from=2026-05-17T06%3A40%3A00.000Z&tz=server"
    assert chart_links("margin", 1_779_000_000_000, None) == [
        f"/export/chart/margin.{fmt}?from=2026-05-17T06%3A40%3A00.000Z" for fmt in ("png", "svg", "html")
    ]


def _money_text(runtime: Any) -> str:
    latest = runtime.streamer.latest()
    stats = build_report(runtime.store, latest.account.login, latest.account, server_offset_s=7200).stats
    return money(stats["net_profit"], "USD", 2, signed=stats["net_profit"] < 0)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTLY_BANNER = "* plotly.js v"


def assert_self_contained(page: str) -> None:
    assert page.count(PLOTLY_BANNER) == 1, "plotly.js inlined exactly once"
    assert "<script src=" not in page and "<link " not in page, "nothing loaded from elsewhere"


def test_chart_html_is_a_self_contained_page_with_the_charts_data(demo_app: Any) -> None:
    client = demo_app.server.test_client()
    response = client.get("/export/chart/equity.html")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="mt5-5000001-chart-equity-start_now.html"'
    page = response.get_data(as_text=True)
    assert_self_contained(page)
    ((balance, equity, from_deals),) = plotted(page)
    history = rows_of(client.get("/export/equity.csv"))
    assert (balance["name"], equity["name"], from_deals["name"]) == ("Balance", "Equity", "Balance (from deals)")
    deposit = rows_of(client.get("/export/deals.csv"))[0]
    assert deposit["kind"] == "deposit" and utc_iso(from_deals["x"][0]) == deposit["time_utc"]
    assert from_deals["x"][-1] == equity["x"][0], "the demo's deals start before its recorded history"
    assert equity["y"][0] == float(history[0]["equity"]) and equity["y"][-1] == float(history[-1]["equity"])
    assert balance["y"][-1] == float(history[-1]["balance"])
    first = datetime.fromtimestamp(equity["x"][0] / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert first == history[0]["time_utc"].rstrip("Z")[:19], "times in UTC (epoch ms on a date axis)"
    assert len(equity["y"]) < len(history), "downsampled like the page's chart"

    nets: dict[str, float] = defaultdict(float)
    for trade in client.get("/trades").get_json()["trades"]:
        nets[trade["symbol"]] += trade["net"]
    ((bars,),) = plotted(client.get("/export/chart/by_symbol.html").get_data(as_text=True))
    best_first = sorted(nets, key=lambda symbol: -nets[symbol])
    assert bars["x"] == best_first and bars["y"] == pytest.approx([nets[symbol] for symbol in best_first])


def test_png_and_svg_are_drawn_by_kaleido_with_the_system_chromium(demo_app: Any) -> None:
    client = demo_app.server.test_client()
    png = client.get("/export/chart/equity.png")
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    assert png.headers["Content-Disposition"] == 'attachment; filename="mt5-5000001-chart-equity-start_now.png"'
    data = png.get_data()
    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (2 * charts_export.IMAGE_WIDTH, 2 * 320), "the figure's own height, at scale 2"
    svg = client.get("/export/chart/drawdown.svg", query_string={"from": "2026-05-26", "to": "2026-05-27"})
    assert svg.status_code == 200 and svg.headers["Content-Type"] == "image/svg+xml"
    text = svg.get_data(as_text=True)
    assert text.startswith("<svg") and "Drawdown from" in text, "the chart's title, drawn"


def test_without_kaleido_or_a_browser_images_are_a_501_naming_what_to_install(
    demo_app: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client = demo_app.server.test_client()
    missing = str(tmp_path / "chromium")
    monkeypatch.setenv("BROWSER_PATH", missing)
    response = client.get("/export/chart/equity.png")
    assert response.status_code == 501
    assert f"BROWSER_PATH={missing!r}" in response.get_json()["error"]
    assert "apt-get install chromium" in response.get_json()["error"]

    monkeypatch.delenv("BROWSER_PATH")
    monkeypatch.setattr(charts_export, "SYSTEM_CHROMIUM", missing)
    monkeypatch.setattr(Chromium, "find_browser", classmethod(lambda cls, **kwargs: None))  # nothing on the machine
    response = client.get("/export/chart/monthly.svg")
    assert response.status_code == 501
    assert "no Chrome or Chromium" in response.get_json()["error"] and "BROWSER_PATH" in response.get_json()["error"]
    assert client.get("/export/chart/monthly.html").status_code == 200, "HTML needs no browser"

    monkeypatch.setitem(sys.modules, "kaleido", None)  # as if it were not installed
    response = client.get("/export/chart/histogram.png")
    assert response.status_code == 501 and "pip install 'kaleido>=1.3,<2'" in response.get_json()["error"]


class HangingKaleido:
    """Stands in for kaleido's browser: it starts, then never finishes drawing."""

    def __init__(self, **options: Any) -> None:
        self.options = options

    async def __aenter__(self) -> HangingKaleido:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def calc_fig(self, figure: dict[str, Any], opts: dict[str, Any]) -> bytes:
        await asyncio.Event().wait()
        return b""


FROZEN_S = 6.0


class FrozenKaleido(HangingKaleido):
    """Blocks its own event loop, so only the request's deadline can end the wait."""

    async def calc_fig(self, figure: dict[str, Any], opts: dict[str, Any]) -> bytes:
        time.sleep(FROZEN_S)
        return b""


@pytest.mark.parametrize("stand_in", [HangingKaleido, FrozenKaleido])
def test_a_hung_browser_is_a_504_after_the_timeout(
    demo_app: Any, monkeypatch: pytest.MonkeyPatch, stand_in: type[HangingKaleido]
) -> None:
    monkeypatch.setattr(charts_export, "RENDER_TIMEOUT_S", 0.5)
    monkeypatch.setattr(charts_export, "GRACE_S", 0.3)
    monkeypatch.setitem(sys.modules, "kaleido", types.SimpleNamespace(Kaleido=stand_in))
    started = time.monotonic()
    response = demo_app.server.test_client().get("/export/chart/equity.png")
    elapsed = time.monotonic() - started
    assert response.status_code == 504 and "did not finish within 0.5 s" in response.get_json()["error"]
    assert 0.5 <= elapsed < FROZEN_S - 1, "the deadline ends the wait, not the browser (loose: a loaded machine)"


class LostKaleido(HangingKaleido):
    """A browser lost while it starts (a busy machine) the first ``losses`` times, then one that draws."""

    starts = 0
    losses = 1

    async def __aenter__(self) -> LostKaleido:
        from kaleido.errors import BrowserFailedError

        type(self).starts += 1
        if type(self).starts <= self.losses:
            raise BrowserFailedError("the browser did not answer while starting")
        return self

    async def calc_fig(self, figure: dict[str, Any], opts: dict[str, Any]) -> bytes:
        return b"<svg>drawn</svg>"


@pytest.mark.parametrize(("losses", "status"), [(1, 200), (2, 502)])
def test_a_browser_lost_while_starting_is_started_once_more(
    demo_app: Any, monkeypatch: pytest.MonkeyPatch, losses: int, status: int
) -> None:
    stand_in = type("Lost", (LostKaleido,), {"starts": 0, "losses": losses})
    monkeypatch.setitem(sys.modules, "kaleido", types.SimpleNamespace(Kaleido=stand_in))
    response = demo_app.server.test_client().get("/export/chart/equity.svg")
    assert response.status_code == status
    assert stand_in.starts == charts_export.BROWSER_ATTEMPTS
    if status == 200:
        assert response.get_data() == b"<svg>drawn</svg>"
    else:
        assert "BrowserFailedError" in response.get_json()["error"]


def test_the_report_has_the_account_every_statistic_the_check_and_every_chart(make_app: Any) -> None:
    app = make_app({"MT5_PASSWORD": "hunter2-never-shown"}, source=demo_source(), start=False)
    app.server.extensions["mt5_runtime"].streamer.step()
    client = app.server.test_client()
    response = client.get("/export/report.html")
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="mt5-5000001-report-start_now.html"'
    page = response.get_data(as_text=True)
    assert_self_contained(page)
    assert "hunter2" not in page

    account = client.get("/account").get_json()
    for text in (account["name"], account["server"], account["company"], f"${account['balance']:,.2f}", "1:100"):
        assert html_text.escape(text) in page, text
    stats = client.get("/stats").get_json()
    for _, label, _ in STAT_ROWS:
        assert f"<span>{html_text.escape(label)}</span>" in page, label
    assert f"<strong>{_money_text(app.server.extensions['mt5_runtime'])}</strong>" in page
    assert f"<strong>{stats['trades']:,}</strong>" in page
    assert "Balance reconciles with the deal history to the cent." in page
    assert "No trades in this range" not in page

    charts = plotted(page)
    assert len(charts) == len(CHART_NAMES) == 9
    assert [trace["name"] for trace in charts[0]] == ["Balance", "Equity", "Balance (from deals)"]
    assert charts[3][0]["type"] == "heatmap" and charts[-1][0]["type"] == "bar"
    assert sum(charts[-1][0]["y"]) == stats["trades"], "the histogram counts every trade"
