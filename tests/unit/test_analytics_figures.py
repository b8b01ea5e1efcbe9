"""The analytics panels as a trader reads them next to MT5's report or Myfxbook: every chart's axes titled with
their unit, the monthly heatmap as tall as the other panels, the drawdowns in the page's table style."""

from __future__ import annotations

import re
from pathlib import Path

from layouts.analytics import (
    DRAWDOWN_HEADER,
    drawdowns_table,
    empty_figure,
    histogram_figure,
    monthly_heatmap,
    pl_bar_figure,
)
from services.core.brokertime import fixed
from services.core.timefmt import UTC_CLOCK, page_clock

STYLE = Path(__file__).resolve().parents[2] / "assets" / "style.css"
ROWS = [{"symbol": "EURUSD", "trades": 3, "net": 12.5, "win_rate": 2 / 3}, {"symbol": "XAUUSD", "trades": 1,
        "net": -4.0, "win_rate": 0.0}]  # fmt: skip


def titles(fig) -> tuple[str | None, str | None]:
    return fig.layout.xaxis.title.text, fig.layout.yaxis.title.text


def test_every_analytics_chart_titles_both_axes_with_their_unit() -> None:
    histogram = histogram_figure(
        [{"low": -10.0, "high": 0.0, "count": 2}, {"low": 0.0, "high": 10.0, "count": 5}], "EUR"
    )
    assert titles(histogram) == ("Net result per trade (EUR)", "Trades")
    assert titles(pl_bar_figure(ROWS, "symbol", "P/L by symbol", "USD", "Symbol")) == ("Symbol", "Net P/L (USD)")
    hours = [{"hour": h, "trades": 1, "net": 1.0, "win_rate": 1.0} for h in range(24)]
    x, y = titles(pl_bar_figure(hours, "hour", "P/L by hour", "JPY", "Hour of close (broker time)"))
    assert x == "Hour of close (broker time)" and y == "Net P/L (JPY)"
    heatmap = monthly_heatmap([{"year": 2025, "month": 3, "return": 0.012}])
    assert titles(heatmap) == ("Month (broker time)", "Year")
    assert heatmap.data[0].colorbar.title.text == "Return" and heatmap.data[0].colorbar.ticksuffix == "%"


def test_the_monthly_heatmap_is_as_tall_as_the_other_panels_and_grows_with_the_years() -> None:
    """One year used to be drawn 180 px tall in a 300 px card: half of it empty."""
    bars = pl_bar_figure(ROWS, "symbol", "P/L by symbol", "USD", "Symbol")
    one_year = monthly_heatmap([{"year": 2025, "month": m, "return": 0.01} for m in range(1, 13)])
    assert one_year.layout.height == bars.layout.height == empty_figure("x", "y").layout.height
    many = monthly_heatmap([{"year": 2010 + k, "month": 1, "return": 0.01} for k in range(12)])
    assert many.layout.height > bars.layout.height, "twelve years do not squeeze into one panel's height"
    assert one_year.layout.autosize is not False, "the width follows the card"


def test_the_deepest_drawdowns_are_a_styled_table_with_numbers_right_aligned() -> None:
    drawdown = {"start_ms": 1_735_689_600_000, "bottom_ms": 1_735_776_000_000, "recovery_ms": None, "depth": 125.5,
                "depth_pct": 0.0251, "duration_s": 172_800.0}  # fmt: skip
    block = drawdowns_table([drawdown], "USD", 2, page_clock(UTC_CLOCK, None, fixed(0)), 0)
    title, table = block.children
    assert title.className == "table-title" and table.className == "data-table"
    head = table.children[0].children.children
    assert [th.children for th in head] == list(DRAWDOWN_HEADER)
    (row,) = table.children[1].children
    cells = {th.children: (td.children, td.className) for th, td in zip(head, row.children, strict=True)}
    assert cells["Depth"] == ("-$125.50", "num") and cells["Depth %"] == ("2.51 %", "num")
    assert cells["Start"] == ("2025-01-01 00:00", None)
    css = STYLE.read_text()
    for selector in (".data-table th", ".data-table td", ".data-table .num", ".table-title"):
        rule = re.search(re.escape(selector) + r"\s*\{([^}]*)\}", css)
        assert rule, f"{selector} is styled"
    header_rule = re.search(r"\.data-table th\s*\{([^}]*)\}", css).group(1)
    assert "var(--muted)" in header_rule and "var(--border)" in header_rule, "the theme's colours, light and dark"
