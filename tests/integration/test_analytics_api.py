"""``/stats``, ``/trades`` and ``/export/<name>.csv`` on the demo account, through Flask's test client."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

import pytest
from dash import html

from callbacks.analytics import analytics_outputs
from services.analytics import build_report
from services.formatting import money
from services.sources.demo import DemoSource
from services.stats import STAT_KEYS
from tests.conftest import RedisServer

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


def rows_of(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_stats_has_every_key_and_agrees_with_trades(demo_app: Any) -> None:
    client = demo_app.server.test_client()
    stats = client.get("/stats").get_json()
    assert set(stats) == set(STAT_KEYS)
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
    ],
)
def test_bad_parameters_get_a_400_naming_them(demo_app: Any, path: str, parameter: str) -> None:
    response = demo_app.server.test_client().get(path)
    assert response.status_code == 400
    body = response.get_json()
    assert body["parameter"] == parameter and body["status"] == 400 and body["error"].startswith(parameter)


def test_an_empty_range_gives_empty_results(demo_app: Any) -> None:
    client = demo_app.server.test_client()
    query = {"from": "2030-01-01", "to": "2030-01-31"}
    stats = client.get("/stats", query_string=query).get_json()
    assert stats["trades"] == 0 and stats["net_profit"] == 0.0 and stats["profit_factor"] is None
    assert client.get("/trades", query_string=query).get_json()["count"] == 0
    response = client.get("/export/trades.csv", query_string=query)
    assert response.status_code == 200 and rows_of(response) == []


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


def test_every_table_exports_and_an_unknown_name_is_a_404(demo_app: Any) -> None:
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
    assert missing.status_code == 404
    assert missing.get_json()["parameter"] == "name" and "deals, trades" in missing.get_json()["error"]


def test_redis_down_is_a_503_never_a_cut_off_csv(redis_server: RedisServer, make_app: Any) -> None:
    app = make_app({"REDIS_URL": redis_server.url}, source=demo_source(), start=False)
    app.server.extensions["mt5_runtime"].streamer.step()
    client = app.server.test_client()
    assert client.get("/stats").status_code == 200
    redis_server.stop()
    for path in ("/stats", "/trades", "/export/deals.csv", "/export/equity.csv"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert "Redis is unavailable" in response.get_json()["error"]


def test_no_account_yet_is_a_503(make_app: Any) -> None:
    client = make_app(source=demo_source(), start=False).server.test_client()
    for path in ("/stats", "/trades", "/export/deals.csv"):
        assert client.get(path).status_code == 503, path


def test_the_panels_are_drawn_from_the_report(demo_app: Any) -> None:
    runtime = demo_app.server.extensions["mt5_runtime"]
    stats_panel, check, links, monthly, *bars, drawdowns = analytics_outputs(runtime, {"from_ms": None, "to_ms": None})
    net = next(c for c in stats_panel.children if c.children[0].children == "Net profit").children[1].children
    assert net == _money_text(runtime)
    assert "reconciles" in check.children
    assert next(a.href for a in links if isinstance(a, html.A)) == "/export/deals.csv"
    assert monthly.data[0].type == "heatmap" and len(bars) == 5
    assert all(figure.data for figure in bars)
    assert drawdowns.children[0].children == "Deepest drawdowns"
    ranged = analytics_outputs(runtime, {"from_ms": 1_779_000_000_000, "to_ms": None})[2]
    assert "from=2026-05-17T06%3A40%3A00.000Z" in ranged[1].href


def _money_text(runtime: Any) -> str:
    latest = runtime.streamer.latest()
    stats = build_report(runtime.store, latest.account.login, latest.account, server_offset_s=7200).stats
    return money(stats["net_profit"], "USD", 2, signed=stats["net_profit"] < 0)
