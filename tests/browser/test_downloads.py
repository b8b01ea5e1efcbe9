"""Downloads from the page in headless Chromium: the files land in dash_duo's download folder, whole and right."""

from __future__ import annotations

import csv
import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException

from layouts import ids
from layouts.analytics import CHART_PICKER, chart_link_id
from services.analytics.csv_export import DEAL_COLUMNS
from services.ingest.sources.demo import DemoSource
from tests.helpers import click

pytestmark = pytest.mark.browser
LOGIN = 5_000_001
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def wait_until(condition: Callable[[], Any], timeout: float = 15.0, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message}")


def downloaded(folder: Path, name: str) -> Path:
    """The file once Chromium has finished writing it (no ``.crdownload`` left beside it)."""
    path = folder / name

    def done() -> bool:
        return path.is_file() and not any(folder.glob("*.crdownload"))

    wait_until(done, 20, f"{name} in {folder} (found {sorted(p.name for p in folder.iterdir())})")
    return path


BROKER_CLOCK = "?tz=server"  # the page's default clock, which every download link names


def href(dash_duo: Any, element_id: str) -> str:
    try:
        return dash_duo.find_element(f"#{element_id}").get_attribute("href") or ""
    except StaleElementReferenceException:  # the panel was redrawn between finding and reading
        return ""


def test_csv_chart_and_report_download_from_the_page(dash_duo: Any, make_app: Any) -> None:
    app = make_app({"POLL_INTERVAL_MS": "200"}, source=DemoSource(seed=21))
    dash_duo.start_server(app)
    dash_duo.wait_for_contains_text(f"#{ids.ACCOUNT_TITLE}", str(LOGIN), timeout=10)
    app.server.extensions["mt5_runtime"].streamer.request("disconnect").result(5)  # no new deals from here on
    folder = Path(dash_duo.download_path)

    click(dash_duo, f"#{ids.RANGE_BUTTONS} label:nth-child(5)")  # All: links without a range
    wait_until(
        lambda: href(dash_duo, "download-deals").endswith("/export/deals.csv" + BROKER_CLOCK),
        10,
        "the all-range CSV link",
    )
    click(dash_duo, "#download-deals")
    with downloaded(folder, f"mt5-{LOGIN}-deals-start_now.csv").open(encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
    assert tuple(reader.fieldnames or ()) == DEAL_COLUMNS
    with urllib.request.urlopen(dash_duo.server_url + "/deals", timeout=5) as response:
        listed = json.loads(response.read())
    assert len(rows) == listed["count"] > 0
    assert [int(row["ticket"]) for row in rows] == [deal["ticket"] for deal in listed["deals"]]
    assert rows[0]["kind"] == "deposit" and rows[0]["time_utc"].endswith("Z")

    dash_duo.select_dcc_dropdown(f"#{CHART_PICKER}", value="Drawdown")
    wait_until(
        lambda: href(dash_duo, chart_link_id("png")).endswith("/export/chart/drawdown.png" + BROKER_CLOCK),
        10,
        "PNG link",
    )
    assert href(dash_duo, chart_link_id("svg")).endswith("/export/chart/drawdown.svg" + BROKER_CLOCK)
    click(dash_duo, f"#{chart_link_id('png')}")
    image = downloaded(folder, f"mt5-{LOGIN}-chart-drawdown-start_now.png").read_bytes()
    assert image.startswith(PNG_SIGNATURE)

    click(dash_duo, "#download-report")
    report = downloaded(folder, f"mt5-{LOGIN}-report-start_now.html").read_text(encoding="utf-8")
    assert f"MT5 account {LOGIN}: trading report" in report and "Deepest drawdowns" in report
    assert dash_duo.get_logs() == []
