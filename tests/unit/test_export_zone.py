"""The exports' ``tz``: every file keeps its UTC column and adds the clock asked for (the page passes its own);
a zone that is none is a 400 naming ``tz``. Truth from ``zoneinfo``; the broker's clock is a fixed UTC+2."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.core.secret import Secret
from services.ingest.sources.mt5 import MT5Source
from tests.fakes.fake_mt5 import FakeMT5

LOGIN = 4242
NOW = 1_785_000_000.0  # 2026-07-25 17:20 UTC, a Saturday: summer in Berlin (UTC+2) and New York (UTC-4)
DEAL_AT = NOW - 3 * 86_400  # Wednesday 17:20 UTC
BROKER = timezone(timedelta(hours=2))
ZONES = {"server": BROKER, "UTC": UTC, "America/New_York": ZoneInfo("America/New_York")}


@pytest.fixture
def client(make_app: Any) -> Any:
    fake = FakeMT5(login=LOGIN, password="pw", offset_s=7200, clock=lambda: NOW)
    fake.add_balance(DEAL_AT - 3600, 1000.0)
    fake.add_deal(DEAL_AT, "EURUSD", type=0, entry=0, volume=0.1, price=1.1, position_id=77)
    fake.add_deal(DEAL_AT + 1800, "EURUSD", type=1, entry=1, volume=0.1, price=1.2, profit=100.0, position_id=77)
    fake.add_position("EURUSD", time_utc=DEAL_AT + 60, type=0, volume=0.1, price_open=1.1)
    env = {"MT5_SOURCE": "mt5", "MT5_LOGIN": str(LOGIN), "BROKER_TZ": "UTC+2"}
    source = MT5Source(fake.module, login=LOGIN, password=Secret("pw"), broker_tz="UTC+2", clock=lambda: NOW)
    app = make_app(env, source=source, start=False)
    app.server.extensions["mt5_runtime"].streamer.step()
    return app.server.test_client()


def rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def wall(utc_text: str, tz: Any) -> str:
    moment = datetime.fromisoformat(utc_text)
    return moment.astimezone(tz).replace(tzinfo=None).isoformat(timespec="milliseconds")


@pytest.mark.parametrize("tz", list(ZONES))
def test_each_csv_keeps_utc_and_adds_the_clock_asked_for(client: Any, tz: str) -> None:
    suffix = "server" if tz == "server" else "local"
    deals = rows(client.get("/export/deals.csv", query_string={"tz": tz}))
    assert len(deals) == 3 and list(deals[0])[:2] == ["time_utc", f"time_{suffix}"]
    for row in deals:
        assert row[f"time_{suffix}"] == wall(row["time_utc"], ZONES[tz])
    (trade,) = rows(client.get("/export/trades.csv", query_string={"tz": tz}))
    assert trade[f"close_time_{suffix}"] == wall(trade["close_time_utc"], ZONES[tz])
    assert trade[f"open_time_{suffix}"] == wall(trade["open_time_utc"], ZONES[tz])
    (position,) = rows(client.get("/export/positions.csv", query_string={"tz": tz}))
    assert position[f"time_{suffix}"] == wall(position["time_utc"], ZONES[tz])
    for point in rows(client.get("/export/equity.csv", query_string={"tz": tz})):
        assert point[f"time_{suffix}"] == wall(point["time_utc"], ZONES[tz])


def test_without_tz_a_csv_has_the_servers_time_as_before(client: Any) -> None:
    response = client.get("/export/deals.csv")
    assert rows(response)[0]["time_server"] == "2026-07-22T18:20:00.000", "the deposit, 16:20 UTC"
    assert "-UTC" not in response.headers["Content-Disposition"]
    named = client.get("/export/deals.csv", query_string={"tz": "America/New_York"}).headers["Content-Disposition"]
    assert named.endswith('-America_New_York.csv"'), "a file in another clock says which"


@pytest.mark.parametrize("bad", ["Mars/Olympus", "../../etc/passwd", "UTC+2", "local", "x" * 100])
def test_a_bad_zone_is_a_400_naming_tz(client: Any, bad: str) -> None:
    for path in ("/export/deals.csv", "/export/equity.csv", "/export/chart/by_hour.html", "/export/report.html"):
        response = client.get(path, query_string={"tz": bad})
        body = response.get_json()
        assert response.status_code == 400 and body["parameter"] == "tz", path
        assert "IANA time zone" in body["error"]


def shown(client: Any, path: str, query: dict[str, str]) -> str:
    """A chart file's text with the slashes plotly's JSON escapes put back."""
    return client.get(path, query_string=query).get_data(as_text=True).replace("\\u002f", "/")


def test_the_chart_and_report_files_name_the_clock(client: Any) -> None:
    summer = {"tz": "America/New_York", "to": "2026-07-25"}  # the clock is named with its offset at the range's end
    assert "P/L by hour of close in America/New_York (UTC-4)" in shown(client, "/export/chart/by_hour.html", summer)
    assert "P/L by hour of close in UTC" in shown(client, "/export/chart/by_hour.html", {})
    assert "Times: broker time (UTC+2)" in shown(client, "/export/chart/equity.html", {"tz": "server"})
    report = shown(client, "/export/report.html", summer)
    assert "P/L by weekday of close in America/New_York (UTC-4)" in report
