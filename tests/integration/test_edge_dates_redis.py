"""Edge dates on a real redis-server (issue 14): a time before 1970 once reached XRANGE as a negative stream id
("Invalid stream ID", a 500), and one past 9999 reached datetime ("year out of range"). Both are clamped now."""

from __future__ import annotations

from typing import Any

import pytest

from services.ingest.sources.demo import DemoSource

pytestmark = pytest.mark.integration

NOW_S = 1_780_000_000.0
EDGES = ("0001-01-01", "0001-01-01T00:00:00+14:00", "9999-12-31", "9999-12-31T23:59:59-14:00")
PATHS = (
    "/deals", "/trades", "/stats", "/export/deals.csv", "/export/trades.csv", "/export/equity.csv",
    "/export/stats.csv", "/export/positions.csv", "/export/orders.csv", "/export/report.html",
    "/export/chart/equity.html",
)  # fmt: skip


def test_edge_dates_on_a_real_redis_are_answered(make_app: Any, redis_server: Any) -> None:
    source = DemoSource(seed=5, clock=lambda: NOW_S, start_utc_s=NOW_S - 3600)
    app = make_app({"REDIS_URL": redis_server.url}, source=source, start=False)
    runtime = app.server.extensions["mt5_runtime"]
    runtime.streamer.step()
    client = app.server.test_client()
    login = runtime.login()
    for value in EDGES:
        for path in PATHS:
            for prefix in ("", f"/accounts/{login}"):
                for query in ({"from": value}, {"to": value}):
                    response = client.get(prefix + path, query_string=query)
                    assert response.status_code == 200, (prefix + path, query, response.get_data(as_text=True)[:300])
    start = client.get("/export/equity.csv", query_string={"from": "0001-01-01"}).get_data(as_text=True)
    assert start == client.get("/export/equity.csv").get_data(as_text=True), "from the year 1 means from the start"
