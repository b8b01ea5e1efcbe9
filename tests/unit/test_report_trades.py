"""The offline report's trade list, as MT5's report and FX Blue show one: every trade closed in the range with its
times, symbol, side, volume, prices, commission, swap, profit and holding time, and a totals row that equals the
statistics. The ground truth is the real-looking account's own round trips (tests/fakes/ground_truth.py)."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import plotly.graph_objects as go

from layouts.analytics import TRADE_HEADER, report_page
from services.analytics.charts_export import ReportPage, report_chunks
from services.analytics.period import Report
from services.analytics.trades import Trade
from services.core.brokertime import fixed
from services.core.timefmt import UTC_CLOCK, page_clock
from tests.fakes.ground_truth import GroundTruth
from tests.unit.test_real_account import app_report, make

NOW_MS = 1_764_374_400_000

UTC_PAGE = page_clock(UTC_CLOCK, None, fixed(0))  # the report's default clock


class TradeTable(HTMLParser):
    """The cells of ``<table class="trades">``: its header, body rows and footer."""

    def __init__(self) -> None:
        super().__init__()
        self.inside, self.part = False, ""
        self.rows: dict[str, list[list[str]]] = {"thead": [], "tbody": [], "tfoot": []}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("class", "trades") in attrs:
            self.inside = True
        elif self.inside and tag in self.rows:
            self.part = tag
        elif self.inside and tag == "tr":
            self.rows[self.part].append([])
        elif self.inside and tag in ("td", "th"):
            self.rows[self.part][-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside and self.part and self.rows[self.part] and self.rows[self.part][-1]:
            self.rows[self.part][-1][-1] += data


def parse(text: str) -> dict[str, list[list[str]]]:
    table = TradeTable()
    table.feed(text)
    return table.rows


def report_html(page: ReportPage) -> str:
    return "".join(report_chunks(page))


def cents(text: str) -> int:
    return round(float(text.replace(",", "")) * 100)


def utc_text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def test_the_report_lists_every_closed_trade_with_a_totals_row_equal_to_the_statistics() -> None:
    fake, acc = make(hedging=True, seed=11)
    truth = GroundTruth(acc)
    report = app_report(fake)
    text = report_html(report_page(report, None, {}, NOW_MS, UTC_PAGE))
    table = parse(text)
    (header,) = table["thead"]
    assert header == ["Position", "Open time (UTC)", "Close time (UTC)", "Symbol", "Side", "Volume", "Open price",
                      "Close price", "Commission (USD)", "Swap (USD)", "Fee (USD)", "Profit (USD)", "Net (USD)",
                      "Holding"]  # fmt: skip
    rows = [dict(zip(header, row, strict=True)) for row in table["tbody"]]
    assert len(rows) == len(truth.trades) > 300, "every closed trade, none more"
    for row, want in zip(rows, truth.trades, strict=True):
        assert (int(row["Position"]), row["Symbol"], row["Side"]) == (want.position_id, want.symbol, want.direction)
        assert (row["Open time (UTC)"], row["Close time (UTC)"]) == (utc_text(want.open_utc_ms),
                                                                     utc_text(want.close_utc_ms))  # fmt: skip
        got = [cents(row[f"{name} (USD)"]) for name in ("Profit", "Commission", "Swap", "Fee", "Net")]
        assert got == [want.profit_c, want.commission_c, want.swap_c, want.fee_c, want.net_c]
        assert float(row["Volume"]) > 0 and float(row["Open price"]) > 0 and float(row["Close price"]) > 0
        assert row["Holding"] and row["Holding"] != "—"
    (totals,) = table["tfoot"]
    total = dict(zip(header, totals, strict=True))
    assert total["Position"] == "Total" and total["Open time (UTC)"] == f"{len(truth.trades):,} trades"
    sums = {name: sum(getattr(t, f"{name.lower()}_c") for t in truth.trades) for name in ("Commission", "Swap", "Fee",
            "Profit", "Net")}  # fmt: skip
    assert {name: cents(total[f"{name} (USD)"]) for name in sums} == sums
    stats = report.stats
    assert cents(total["Net (USD)"]) == round(stats["net_profit"] * 100), "the total is the statistics' net profit"
    assert cents(total["Swap (USD)"]) == round(stats["swap"] * 100)
    assert cents(total["Commission (USD)"]) == round(stats["commission"] * 100)
    assert "also counts" not in text, "no balance operation beside the trades in this account"


def trade(n: int) -> Trade:
    return Trade(
        position_id=10_000_000 + n, symbol="EURUSD" if n % 2 else "<b>XAU</b>", direction="buy" if n % 3 else "sell",
        volume=0.1 * (1 + n % 7), open_time_utc_ms=NOW_MS - 3_600_000 * (n + 2), open_time_msc=0,
        close_time_utc_ms=NOW_MS - 3_600_000 * n, close_time_msc=0, open_price=1.08345 + n * 1e-5,
        close_price=1.08411, profit=12.34 - n % 50, commission=-0.7, swap=-0.12, fee=0.0,
        net=round(12.34 - n % 50 - 0.82, 2), holding_s=7200.0, close_reason="tp",
    )  # fmt: skip


def synthetic_report(count: int) -> Report:
    trades = [trade(n) for n in range(count)]
    stats = {"trades": count, "net_profit": round(sum(t.net for t in trades), 2), "notes": {}}
    return Report(
        login=77, start_ms=None, end_ms=None, currency="USD", digits=2, trades=trades, stats=stats,
        reconciliation=None, drawdowns=[], by_symbol=[], by_direction=[], by_hour=[], by_weekday=[], monthly=[],
        histogram=[],
    )  # fmt: skip


def written(report: Report) -> tuple[int, int, int]:
    """The report's length, the longest piece after the head (plotly.js), and the peak memory while writing it."""
    page = report_page(report, None, {}, NOW_MS, UTC_PAGE)
    tracemalloc.start()
    try:
        pieces = report_chunks(page)
        length = len(next(pieces))
        longest = 0
        for piece in pieces:
            length += len(piece)
            longest = max(longest, len(piece))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return length, longest, peak


def test_thousands_of_trades_stream_out_in_bounded_pieces_and_memory() -> None:
    """Each row is compact and made as it goes out: ten times the trades, ten times the bytes, the same memory."""
    few, many = synthetic_report(1_000), synthetic_report(10_000)
    few_length, few_longest, few_peak = written(few)
    many_length, many_longest, many_peak = written(many)
    per_trade = (many_length - few_length) / 9_000
    assert per_trade < 200, f"a compact row: {per_trade:.0f} bytes per trade"
    assert many_longest < 1.05 * few_longest < 250_000, "no piece grows with the number of trades"
    assert many_peak - few_peak < (many_length - few_length) / 4, "memory does not follow the length of the list"
    rows = parse(report_html(report_page(many, None, {}, NOW_MS, UTC_PAGE)))["tbody"]
    assert len(rows) == 10_000 and rows[0][3] == "<b>XAU</b>", "broker text is escaped, not markup"
    assert rows[0][TRADE_HEADER.index("Open price")] == "1.08345" and rows[1][6] == "1.08346", "no float noise"


def test_a_range_without_trades_has_no_trade_table_rows_and_no_totals() -> None:
    text = report_html(report_page(synthetic_report(0), None, {"equity": go.Figure()}, NOW_MS, UTC_PAGE))
    table: dict[str, Any] = parse(text)
    assert table["tbody"] == [] and table["tfoot"] == [] and "No trades in this range." in text
