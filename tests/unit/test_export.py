"""CSV exports on the embedded Redis (header rows, UTC and server times, chunked reads, lazy streaming),
and the HTML pages of the chart export."""

from __future__ import annotations

import csv
import dataclasses
import io
import types
from pathlib import Path
from typing import Any

import fakeredis
import plotly.graph_objects as go
import pytest

from services.analytics import charts_export
from services.analytics import csv_export as export
from services.core.models import Deal, HistoryPoint, Order, Position
from services.storage.store import Store

LOGIN = 77
OFFSET_S = 7200
NOON_UTC_MS = 1_769_860_800_000  # 2026-01-31T12:00:00Z


@pytest.fixture
def store() -> Store:
    return Store(fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True), "x", 100_000)


def make_deal(ticket: int, utc_ms: int, **fields: Any) -> Deal:
    record = {
        "ticket": ticket, "order": 0, "time": 0, "time_msc": utc_ms + OFFSET_S * 1000, "type": 0, "entry": 0,
        "magic": 0, "position_id": ticket, "reason": 0, "volume": 0.1, "price": 1.1, "commission": -0.35,
        "swap": 0.0, "profit": 0.0, "fee": 0.0, "symbol": "EURUSD", "comment": "", "external_id": "",
    }  # fmt: skip
    record.update(fields)
    record["time"] = record["time_msc"] // 1000
    return Deal.from_mt5(record, OFFSET_S)


def parse(chunks: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO("".join(chunks))))


def test_deals_csv_has_the_header_and_iso_utc_plus_server_time(store: Store) -> None:
    store.add_deals(LOGIN, [make_deal(1, NOON_UTC_MS, comment="=HYPERLINK(1)", profit=1.5)])
    text = "".join(export.deals_csv(store, LOGIN, None, None))
    assert text.splitlines()[0] == ",".join(export.DEAL_COLUMNS)
    (row,) = parse([text])
    assert row["time_utc"] == "2026-01-31T12:00:00.000Z"
    assert row["time_server"] == "2026-01-31T14:00:00.000"
    assert (row["ticket"], row["kind"], row["profit"], row["commission"]) == ("1", "buy", "1.5", "-0.35")
    assert (row["type"], row["entry"], row["entry_name"]) == ("0", "0", "in"), "MT5's codes, and the entry by name"
    assert row["comment"] == "'=HYPERLINK(1)", "a spreadsheet must not run a comment as a formula"


def test_csv_chunks_is_a_lazy_generator_that_flushes_as_it_goes() -> None:
    produced = []

    def rows() -> Any:
        for k in range(1000):
            produced.append(k)
            yield [k, f"row {k}"]

    chunks = export.csv_chunks(("n", "text"), rows(), flush_chars=1024)
    assert isinstance(chunks, types.GeneratorType) and produced == []
    first = next(chunks)
    assert first.startswith("n,text\r\n") and 0 < len(produced) < 1000
    rest = list(chunks)
    assert len(rest) > 5
    parsed = parse([first, *rest])
    assert [int(r["n"]) for r in parsed] == list(range(1000))


class CountingClient:
    """Counts the Redis calls a reader makes, to show it pages instead of reading everything at once."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return method(*args, **kwargs)

        return call


def test_deals_are_read_in_chunks_in_time_order_even_when_many_share_a_millisecond(store: Store) -> None:
    deals = [make_deal(1000 + k, NOON_UTC_MS + (k // 7) * 1000) for k in range(50)]  # seven deals per second
    store.add_deals(LOGIN, reversed(deals))
    counting = Store(CountingClient(store.client), "x", 100_000)  # type: ignore[arg-type]
    reader = export.iter_deals(counting, LOGIN, chunk=3)
    assert next(reader).ticket == 1000
    assert counting.client.calls == ["zrangebyscore", "hmget"], "one page read, not the whole index"
    tickets = [1000, *(d.ticket for d in reader)]
    assert tickets == [d.ticket for d in deals]
    assert counting.client.calls.count("zrangebyscore") >= 50 // 3
    window = export.iter_deals(store, LOGIN, NOON_UTC_MS + 2000, NOON_UTC_MS + 3000, chunk=4)
    assert [d.ticket for d in window] == list(range(1014, 1028))


def test_history_is_read_in_chunks_and_exported_with_both_times(store: Store) -> None:
    points = [HistoryPoint(NOON_UTC_MS + k * 250, 1000.0, 1000.0 + k, 10.0, 10_000.0, float(k)) for k in range(23)]
    store.append_history(LOGIN, points)
    store.append_history(LOGIN, [HistoryPoint(NOON_UTC_MS, 1.0, 2.0, 3.0, 4.0, 5.0)])  # filed at the newest time
    assert list(export.iter_history(store, LOGIN, chunk=5))[:23] == points
    rows = parse(export.equity_csv(store, LOGIN, NOON_UTC_MS + 1000, NOON_UTC_MS + 2000, OFFSET_S))
    assert [float(r["equity"]) for r in rows] == [1004.0, 1005.0, 1006.0, 1007.0, 1008.0]
    assert (rows[0]["time_utc"], rows[0]["time_server"]) == ("2026-01-31T12:00:01.000Z", "2026-01-31T14:00:01.000")
    assert tuple(rows[0]) == export.EQUITY_COLUMNS


def test_trades_export_rebuilds_trades_closed_in_the_range(store: Store) -> None:
    deals = [
        make_deal(1, NOON_UTC_MS, position_id=5),
        make_deal(2, NOON_UTC_MS + 3_600_000, position_id=5, type=1, entry=1, price=1.2, profit=1000.0),
        make_deal(3, NOON_UTC_MS + 7_200_000, position_id=6),
    ]
    store.add_deals(LOGIN, deals)
    (row,) = parse(export.trades_csv(store, LOGIN, NOON_UTC_MS + 1_000_000, None, 2))
    assert (row["position_id"], row["direction"], row["net"], row["holding_s"]) == ("5", "buy", "999.3", "3600.0")
    assert (row["open_time_utc"], row["close_time_server"]) == ("2026-01-31T12:00:00.000Z", "2026-01-31T15:00:00.000")
    assert parse(export.trades_csv(store, LOGIN, None, NOON_UTC_MS + 1_000, 2)) == []


POSITION = {
    "ticket": 9, "time": 0, "time_msc": NOON_UTC_MS + OFFSET_S * 1000, "time_update": 0,
    "time_update_msc": NOON_UTC_MS + OFFSET_S * 1000, "type": 1, "magic": 0, "identifier": 9, "reason": 0,
    "volume": 0.2, "price_open": 1.3, "sl": 0.0, "tp": 0.0, "price_current": 1.29, "swap": -0.4, "profit": 20.0,
    "symbol": "GBPUSD", "comment": "-1 lot", "external_id": "",
}  # fmt: skip


def test_positions_orders_and_stats_tables() -> None:
    position = Position.from_mt5(POSITION, OFFSET_S)
    (row,) = parse(export.positions_csv([position], None, None))
    assert (row["time_utc"], row["time_server"], row["symbol"]) == (
        "2026-01-31T12:00:00.000Z",
        "2026-01-31T14:00:00.000",
        "GBPUSD",
    )
    assert row["comment"] == "'-1 lot" and row["profit"] == "20.0"
    assert parse(export.positions_csv([position], NOON_UTC_MS + 1, None)) == []
    assert "".join(export.orders_csv([], None, None)).strip() == ",".join(export.ORDER_COLUMNS)
    stats = parse(
        export.stats_csv({"net_profit": -12.5, "sharpe": None, "notes": {"sharpe": "needs 20 daily returns, has 3"}})
    )
    assert stats == [
        {"statistic": "net_profit", "value": "-12.5", "note": ""},
        {"statistic": "sharpe", "value": "", "note": "needs 20 daily returns, has 3"},
    ]


def test_every_deal_entry_is_named_by_the_fast_and_the_exact_path_alike(store: Store) -> None:
    """``in``, ``out``, ``in/out`` (a reversal), ``out by`` (a close by); a code MT5 may add later stays a number."""
    names = {0: "in", 1: "out", 2: "in/out", 3: "out by", 7: "7"}
    deals = [make_deal(10 + code, NOON_UTC_MS + code, entry=code, type=code % 2) for code in names]
    store.add_deals(LOGIN, deals)
    fast = "".join(export.deals_csv(store, LOGIN, None, None))
    exact = "".join(export.csv_chunks(export.DEAL_COLUMNS, map(export.deal_row, deals)))
    assert fast == exact
    assert [(row["entry"], row["entry_name"]) for row in parse([fast])] == [(str(c), n) for c, n in names.items()]


def test_positions_and_orders_name_their_type_beside_mt5s_code() -> None:
    """A person reads ``sell`` or ``sell stop``; a program keeps the numeric ``type`` it relied on."""
    position = Position.from_mt5(POSITION, OFFSET_S)
    (row,) = parse(export.positions_csv([position], None, None))
    assert (row["type"], row["type_name"]) == ("1", "sell")
    fields = {f.name: {"int": 0, "float": 0.0, "str": ""}[f.type] for f in dataclasses.fields(Order)}
    names = {0: "buy", 2: "buy limit", 5: "sell stop", 7: "sell stop limit", 8: "close by", 42: "42"}
    orders = [Order(**{**fields, "ticket": code, "type": code}) for code in names]
    rows = parse(export.orders_csv(orders, None, None))
    assert [(row["type"], row["type_name"]) for row in rows] == [(str(code), name) for code, name in names.items()]


def test_the_report_escapes_broker_text_and_inlines_plotly_once() -> None:
    figure = go.Figure(go.Bar(x=["</script><b>EURUSD"], y=[1.5]))
    page = charts_export.ReportPage(
        title="MT5 account 77: trading report",
        subtitle="Range (UTC): start of history to now",
        summary=[("Name", "<script>alert('x')</script>")],
        check="Balance reconciles with the deal history to the cent.",
        check_ok=True,
        notice="No trades in this range.",
        statistics=[("Net profit", "$0.00")],
        figures=[figure, figure],
        drawdown_header=("Start (UTC)",),
        drawdowns=[],
    )
    text = "".join(charts_export.report_chunks(page))
    assert "<script>alert" not in text and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "</script><b>" not in text, "figure data cannot close the script it sits in"
    assert text.count("* plotly.js v") == 1 and text.count('<div class="chart">') == 2
    assert "No trades in this range." in text and "No drawdown on the equity history" in text


def test_a_chart_page_carries_plotly_and_a_white_background() -> None:
    figure = charts_export.for_export(go.Figure(go.Scatter(y=[1, 2]), layout={"paper_bgcolor": "rgba(0,0,0,0)"}))
    text = charts_export.figure_html(figure)
    assert text.startswith("<html>") and text.count("* plotly.js v") == 1 and "<script src=" not in text
    assert figure.layout.paper_bgcolor == "white"


def test_browser_path_prefers_browser_path_then_the_system_chromium(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    browser = tmp_path / "chrome"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    monkeypatch.setenv("BROWSER_PATH", str(browser))
    assert charts_export.browser_path() == str(browser)
    monkeypatch.delenv("BROWSER_PATH")
    monkeypatch.setattr(charts_export, "SYSTEM_CHROMIUM", str(browser))
    assert charts_export.browser_path() == str(browser)
    monkeypatch.setattr(charts_export, "SYSTEM_CHROMIUM", str(tmp_path / "none"))
    assert charts_export.browser_path() is None, "kaleido searches on its own then"
    browser.chmod(0o644)
    monkeypatch.setenv("BROWSER_PATH", str(browser))
    with pytest.raises(charts_export.ImageExportUnavailable, match="BROWSER_PATH"):
        charts_export.browser_path()
