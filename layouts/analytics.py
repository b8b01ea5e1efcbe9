"""The analytics panels: statistics, breakdown charts, deepest drawdowns, downloads, the balance check.

Pure functions from plain data (``services.analytics.period.Report`` parts) to components and figures.
The same figures feed the page, the chart exports and the HTML report, so a file shows what the page shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import plotly.graph_objects as go
from dash import dcc, html

from layouts import ids
from layouts.figures import (
    DEFAULT_THEME,
    SIGN_COLORS,
    drawdown_figure,
    equity_figure,
    margin_figure,
    whole_life_series,
)
from services.analytics.balance import WholeLife
from services.analytics.charts_export import FORMATS, ReportPage, for_export
from services.analytics.csv_export import TABLES, utc_iso
from services.analytics.period import Report
from services.analytics.stats import NOTES
from services.analytics.trades import Trade, cents
from services.core.brokertime import BrokerZone
from services.core.formatting import TRADE_MODES, margin_level, money
from services.core.models import Account
from services.core.timefmt import Clock
from services.core.units import DAY_S, HOUR_S, MINUTE_S

GAIN_COLOR, LOSS_COLOR = SIGN_COLORS[DEFAULT_THEME]["gain"], SIGN_COLORS[DEFAULT_THEME]["loss"]  # a white template
CHART_HEIGHT = 300  # every panel's chart, so the cards of a row of the grid are filled alike
HEATMAP_ROW = 40  # the monthly heatmap's height per year beyond what fits in CHART_HEIGHT
HOUR, WEEKDAY = "Hour of close", "Weekday of close"  # the clock is in the chart's title
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
GRAPH_CONFIG = {"displaylogo": False, "responsive": True}
# export name -> page component, in the order of the panels
ANALYTICS_CHARTS = {
    "monthly": ids.ANALYTICS_MONTHLY,
    "by_symbol": ids.ANALYTICS_BY_SYMBOL,
    "by_direction": ids.ANALYTICS_BY_DIRECTION,
    "by_hour": ids.ANALYTICS_BY_HOUR,
    "by_weekday": ids.ANALYTICS_BY_WEEKDAY,
    "histogram": ids.ANALYTICS_HISTOGRAM,
}
CHART_IDS = tuple(ANALYTICS_CHARTS.values())
HISTORY_TITLES = {"equity": "Balance and equity", "margin": "Margin and margin level", "drawdown": "Drawdown"}
CHART_LABELS = {
    **HISTORY_TITLES,
    "monthly": "Monthly returns",
    "by_symbol": "P/L by symbol",
    "by_direction": "P/L by direction",
    "by_hour": "P/L by hour",
    "by_weekday": "P/L by weekday",
    "histogram": "Trade results",
}
CHART_NAMES = tuple(CHART_LABELS)
# the chart download bar lives outside ids.py's panels: a picker and one link per format
CHART_PICKER = "download-chart-picker"
DRAWDOWN_HEADER = ("Start", "Bottom", "Recovery", "Depth", "Depth %", "Duration")
DRAWDOWN_NUMBERS = frozenset(("Depth", "Depth %", "Duration"))  # right-aligned, as numbers are in every table
TRADE_MONEY = ("commission", "swap", "fee", "profit", "net")  # the trade list's money columns, and its totals
TRADE_HEADER = (
    "Position", "Open time", "Close time", "Symbol", "Side", "Volume", "Open price", "Close price",
    "Commission", "Swap", "Fee", "Profit", "Net", "Holding",
)  # fmt: skip

# (key, label, kind): kind decides the format
STAT_ROWS = (
    ("net_profit", "Net profit", "money"),
    ("gross_profit", "Gross profit", "money"),
    ("gross_loss", "Gross loss", "money"),
    ("profit_factor", "Profit factor", "ratio"),
    ("expected_payoff", "Expected payoff", "money"),
    ("trades", "Trades", "count"),
    ("win_rate", "Win rate", "rate"),
    ("avg_win", "Average win", "money"),
    ("avg_loss", "Average loss", "money"),
    ("largest_win", "Largest win", "money"),
    ("largest_loss", "Largest loss", "money"),
    ("max_consecutive_wins", "Max consecutive wins", "count"),
    ("max_consecutive_losses", "Max consecutive losses", "count"),
    ("long_trades", "Long trades", "count"),
    ("long_win_rate", "Long win rate", "rate"),
    ("short_trades", "Short trades", "count"),
    ("short_win_rate", "Short win rate", "rate"),
    ("deposits", "Deposits", "money"),
    ("withdrawals", "Withdrawals", "money"),
    ("commission", "Commission", "money"),
    ("swap", "Swap", "money"),
    ("fee", "Fees and other charges", "money"),
    ("max_drawdown", "Max drawdown (equity)", "money"),
    ("max_drawdown_pct", "Max drawdown % (equity)", "rate"),
    ("max_drawdown_daily_pct", "Max drawdown % (daily closes)", "rate"),
    ("max_drawdown_duration_s", "Longest drawdown", "duration"),
    ("balance_max_drawdown", "Max drawdown (balance)", "money"),
    ("balance_max_drawdown_pct", "Max drawdown % (balance)", "rate"),
    ("recovery_factor", "Recovery factor", "ratio"),
    ("sharpe", "Sharpe ratio", "ratio"),
    ("sortino", "Sortino ratio", "ratio"),
    ("calmar", "Calmar ratio", "ratio"),
    ("gain_pct_twr", "Gain (time-weighted)", "rate"),
    ("gain_pct_absolute", "Gain (absolute)", "rate"),
    ("avg_holding_s", "Average holding time", "duration"),
)


def duration_text(seconds: float) -> str:
    whole = round(seconds)
    days, rest = divmod(whole, DAY_S)
    hours, rest = divmod(rest, HOUR_S)
    minutes, secs = divmod(rest, MINUTE_S)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def stat_text(value: Any, kind: str, currency: str, digits: int) -> str:
    if value is None:
        return "—"
    if kind == "money":
        return money(value, currency, digits, signed=value < 0)
    if kind == "rate":
        return f"{value * 100:,.2f} %"
    if kind == "ratio":
        return f"{value:,.2f}"
    if kind == "duration":
        return duration_text(value)
    return f"{value:,}"


def stat_cell(stats: Mapping[str, Any], key: str, kind: str, currency: str, digits: int) -> str:
    """The statistic's text; when it is null for a stated reason, the reason instead of a number."""
    note = stats.get(NOTES, {}).get(key)
    return f"— ({note})" if note else stat_text(stats.get(key), kind, currency, digits)


def stats_panel(stats: Mapping[str, Any], currency: str, digits: int) -> html.Dl:
    return html.Dl(
        className="stats-grid",
        style={
            "display": "grid",
            "gridTemplateColumns": "repeat(auto-fill, minmax(min(220px, 45%), 1fr))",  # two columns on a phone
            "gap": "6px 16px",
        },
        children=[
            html.Div(
                [
                    html.Dt(label, className="kpi-label"),
                    html.Dd(
                        stat_cell(stats, key, kind, currency, digits),
                        id=f"stat-{key.replace('_', '-')}",
                        style={"margin": 0, "fontWeight": 600, "fontVariantNumeric": "tabular-nums"},
                    ),
                ],
                style={"margin": 0},
            )
            for key, label, kind in STAT_ROWS
        ],
    )


def notice(text: str) -> html.Div:
    return html.Div(text, className="source-note")


def _frame(title: str, height: int = CHART_HEIGHT) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 14}},
        margin={"l": 56, "r": 16, "t": 40, "b": 40},
        height=height,
        template="plotly_white",
        showlegend=False,
    )
    return fig


def empty_figure(title: str, message: str) -> go.Figure:
    fig = _frame(title)
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def monthly_heatmap(monthly: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Years down, months across; each cell the month's time-weighted return."""
    title = "Monthly returns (time-weighted, broker time)"
    if not monthly:
        return empty_figure(title, "No balance movements in this range")
    years = sorted({row["year"] for row in monthly})
    grid: list[list[float | None]] = [[None] * 12 for _ in years]
    for row in monthly:
        grid[years.index(row["year"])][row["month"] - 1] = row["return"] * 100
    text = [["" if cell is None else f"{cell:+.2f}%" for cell in line] for line in grid]
    # as tall as the other panels (one year's row used to fill half its card), taller for many years
    fig = _frame(title, height=max(CHART_HEIGHT, 80 + HEATMAP_ROW * len(years)))
    fig.add_heatmap(
        z=grid,
        x=list(MONTHS),
        y=[str(year) for year in years],
        text=text,
        texttemplate="%{text}",
        colorscale="RdYlGn",
        zmid=0,
        xgap=2,
        ygap=2,
        hovertemplate="%{y} %{x}: %{text}<extra></extra>",
        colorbar={"ticksuffix": "%", "title": {"text": "Return"}},
    )
    fig.update_xaxes(title_text="Month (broker time)")
    fig.update_yaxes(type="category", autorange="reversed", title_text="Year")
    return fig


def pl_bar_figure(
    rows: Sequence[Mapping[str, Any]],
    key: str,
    title: str,
    currency: str,
    axis: str,
    labels: Sequence[str] | None = None,
) -> go.Figure:
    """Net result per group (``axis`` names the groups), green above zero and red below; the hover shows the
    trade count and win rate."""
    if not any(row["trades"] for row in rows):
        return empty_figure(title, "No closed trades in this range")
    names = list(labels) if labels is not None else [str(row[key]) for row in rows]
    fig = _frame(f"{title} ({currency})" if currency else title)
    fig.add_bar(
        x=names,
        y=[row["net"] for row in rows],
        marker_color=[GAIN_COLOR if row["net"] >= 0 else LOSS_COLOR for row in rows],
        customdata=[
            [row["trades"], "—" if row["win_rate"] is None else f"{row['win_rate'] * 100:.1f}%"] for row in rows
        ],
        hovertemplate="%{x}: %{y:,.2f}<br>%{customdata[0]} trades, %{customdata[1]} won<extra></extra>",
    )
    fig.update_xaxes(type="category", title_text=axis)
    fig.update_yaxes(tickformat=",.2f", zeroline=True, title_text=_in("Net P/L", currency))
    return fig


def _in(quantity: str, currency: str) -> str:
    """An axis title with its unit: the account currency, when known."""
    return f"{quantity} ({currency})" if currency else quantity


def histogram_figure(bins: Sequence[Mapping[str, Any]], currency: str) -> go.Figure:
    title = f"Trade results ({currency})" if currency else "Trade results"
    if not bins:
        return empty_figure(title, "No closed trades in this range")
    fig = _frame(title)
    fig.add_bar(
        x=[(b["low"] + b["high"]) / 2 for b in bins],
        y=[b["count"] for b in bins],
        width=[b["high"] - b["low"] for b in bins],
        marker_color=[GAIN_COLOR if b["low"] >= 0 else LOSS_COLOR for b in bins],
        customdata=[[b["low"], b["high"]] for b in bins],
        hovertemplate="%{customdata[0]:,.2f} to %{customdata[1]:,.2f}: %{y} trades<extra></extra>",
    )
    fig.update_layout(bargap=0.02)
    fig.update_xaxes(tickformat=",.2f", title_text=_in("Net result per trade", currency))
    fig.update_yaxes(title_text="Trades")
    return fig


def analytics_figures(report: Report) -> dict[str, go.Figure]:
    """The breakdown charts of a report by export name, in ``CHART_IDS`` order."""
    currency = report.currency
    return {
        "monthly": monthly_heatmap(report.monthly),
        "by_symbol": pl_bar_figure(report.by_symbol, "symbol", "P/L by symbol", currency, "Symbol"),
        "by_direction": pl_bar_figure(
            report.by_direction, "direction", "P/L by direction", currency, "Direction", labels=("Long", "Short")
        ),
        "by_hour": pl_bar_figure(report.by_hour, "hour", f"P/L by hour of close in {report.clock}", currency, HOUR),
        "by_weekday": pl_bar_figure(
            report.by_weekday,
            "weekday",
            f"P/L by weekday of close in {report.clock}",
            currency,
            WEEKDAY,
            labels=[row["name"] for row in report.by_weekday],
        ),
        "histogram": histogram_figure(report.histogram, currency),
    }


def history_figures(
    part: WholeLife, broker: BrokerZone, clock: Clock, currency: str, digits: int
) -> dict[str, go.Figure]:
    """The three history charts as the page draws them (the balance from deals before the first recorded
    point included), with times in ``clock``, named under the x axis."""
    series, deals, _ = whole_life_series(part, clock, broker)
    if not series.x and deals is None:
        return {name: empty_figure(title, "No history in this range") for name, title in HISTORY_TITLES.items()}
    figures = {
        "equity": equity_figure(series, currency, digits, None, "export", deals),
        "margin": margin_figure(series, currency, digits, None, "export"),
        "drawdown": drawdown_figure(series, None, "export", deals),
    }
    return figures


def _price(value: float | None) -> str:
    """A price as the broker quotes it: its digits, without the float's noise (1.08345, not 1.0834500000000001)."""
    return "—" if value is None else format(value, ".10g")


def _amount(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def trade_row(trade: Trade, digits: int, clock: Clock) -> list[str]:
    """One closed trade as the report's list shows it, in ``TRADE_HEADER`` order, times in ``clock``."""
    return [
        str(trade.position_id),
        "—" if trade.open_time_utc_ms is None else clock.text(trade.open_time_utc_ms),
        clock.text(trade.close_time_utc_ms),
        trade.symbol,
        trade.direction,
        f"{trade.volume:g}",
        _price(trade.open_price),
        _price(trade.close_price),
        *(_amount(getattr(trade, key), digits) for key in TRADE_MONEY),
        "—" if trade.holding_s is None else duration_text(trade.holding_s),
    ]


def trade_header(currency: str, clock_label: str) -> list[str]:
    """The trade list's heads: times name the clock, money the currency."""
    money_heads = {h for h in TRADE_HEADER if h.lower() in TRADE_MONEY}
    return [
        f"{h} ({clock_label})" if h.endswith("time") else f"{h} ({currency})" if currency and h in money_heads else h
        for h in TRADE_HEADER
    ]


def trade_totals(trades: Sequence[Trade], digits: int) -> dict[str, float]:
    """The money columns summed over the trades, to the cent: what the statistics add up."""
    return {key: cents(sum(getattr(trade, key) for trade in trades), digits) for key in TRADE_MONEY}


def trade_totals_row(trades: Sequence[Trade], digits: int) -> list[str]:
    totals = trade_totals(trades, digits)
    counted = f"{len(trades):,} trade{'' if len(trades) == 1 else 's'}"
    blank = [""] * (len(TRADE_HEADER) - len(TRADE_MONEY) - 3)
    return ["Total", counted, *blank, *(_amount(totals[key], digits) for key in TRADE_MONEY), ""]


def trade_note(stats: Mapping[str, Any], trades: Sequence[Trade], currency: str, digits: int) -> str | None:
    """Why the statistics' net profit differs from the list's total, when it does: balance operations that are
    no trade (a monthly commission, a charge, interest) count in it."""
    other = cents((stats.get("net_profit") or 0.0) - trade_totals(trades, digits)["net"], digits)
    if not other:
        return None
    return (
        f"Net profit in the statistics also counts {money(other, currency, digits, signed=True)} of balance "
        "operations that are no trade (commissions, charges, interest, dividends, tax)."
    )


def drawdown_rows(drawdowns: Sequence[Mapping[str, Any]], currency: str, digits: int, clock: Clock) -> list[list[str]]:
    """The deepest falls as table texts, times in ``clock`` to the minute; the page and the report share them."""

    def at(ms: int) -> str:
        return clock.text(ms)[:16]

    return [
        [
            at(d["start_ms"]),
            at(d["bottom_ms"]),
            "not yet" if d["recovery_ms"] is None else at(d["recovery_ms"]),
            money(-d["depth"], currency, digits),
            f"{d['depth_pct'] * 100:.2f} %",
            duration_text(d["duration_s"]) + ("" if d["recovery_ms"] is not None else " so far"),
        ]
        for d in drawdowns
    ]


def drawdowns_title(clock: Clock, at_ms: int) -> str:
    return f"Deepest drawdowns (times in {clock.label(at_ms)})"


def drawdowns_table(
    drawdowns: Sequence[Mapping[str, Any]], currency: str, digits: int, clock: Clock, now_ms: int
) -> html.Div:
    """The deepest falls on the equity history, deepest first, times in the page's clock."""
    title = html.H3(drawdowns_title(clock, now_ms), className="table-title")
    if not drawdowns:
        return html.Div([title, notice("No drawdown on the equity history in this range")])
    numeric = [header in DRAWDOWN_NUMBERS for header in DRAWDOWN_HEADER]
    rows = [
        html.Tr([html.Td(cell, className="num" if right else None) for cell, right in zip(row, numeric, strict=True)])
        for row in drawdown_rows(drawdowns, currency, digits, clock)
    ]
    head = [html.Th(h, className="num" if right else None) for h, right in zip(DRAWDOWN_HEADER, numeric, strict=True)]
    return html.Div([title, html.Table([html.Thead(html.Tr(head)), html.Tbody(rows)], className="data-table")])


def export_url(path: str, start_ms: int | None, end_ms: int | None, clock: Clock | None = None) -> str:
    """``path`` under ``/export/`` (``deals.csv``, ``chart/equity.png``, ``report.html``) with the range and
    the page's clock (``tz``)."""
    query = {key: utc_iso(ms) for key, ms in (("from", start_ms), ("to", end_ms)) if ms is not None}
    if clock is not None:
        query["tz"] = clock.param
    return f"/export/{path}" + (f"?{urlencode(query)}" if query else "")


def chart_link_id(fmt: str) -> str:
    return f"download-chart-{fmt}"


def download_links(start_ms: int | None, end_ms: int | None, clock: Clock | None = None) -> list[Any]:
    """Plain links, the CSVs and then the report: the browser downloads each file itself, however large."""
    return [
        html.Span("Download CSV: ", className="kpi-label"),
        *(
            html.A(
                name, href=export_url(f"{name}.csv", start_ms, end_ms, clock), download="", className="badge",
                id=f"download-{name}",
            )
            for name in TABLES
        ),
        html.Span("Report: ", className="kpi-label", style={"marginLeft": "8px"}),
        html.A(
            "HTML report", href=export_url("report.html", start_ms, end_ms, clock), download="", className="badge",
            id="download-report",
        ),
    ]  # fmt: skip


def chart_links(chart: str, start_ms: int | None, end_ms: int | None, clock: Clock | None = None) -> list[str]:
    """The PNG, SVG and HTML addresses of one chart, in ``FORMATS`` order."""
    return [export_url(f"chart/{chart}.{fmt}", start_ms, end_ms, clock) for fmt in FORMATS]


def chart_download_bar() -> html.Div:
    """Pick a chart, download it as an image or a self-contained page; the range is added by a callback."""
    first = CHART_NAMES[0]
    return html.Div(
        className="downloads",
        style={"display": "flex", "gap": "8px", "flexWrap": "wrap", "alignItems": "center", "margin": "8px 0"},
        children=[
            html.Span("Download chart: ", className="kpi-label"),
            dcc.Dropdown(
                id=CHART_PICKER,
                options=[{"label": label, "value": name} for name, label in CHART_LABELS.items()],
                value=first,
                clearable=False,
                searchable=False,
                style={"width": "240px"},
            ),
            *(
                html.A(fmt.upper(), href=href, download="", className="badge", id=chart_link_id(fmt))
                for fmt, href in zip(FORMATS, chart_links(first, None, None), strict=True)
            ),
        ],
    )


def reconciliation_line(warning: str | None, checked: bool) -> html.Div:
    """The balance check under the panel: a warning with the amount, or a quiet confirmation."""
    if warning is not None:
        return html.Div(warning, className="badge badge-warn", style={"whiteSpace": "normal", "display": "block"})
    text = "Balance reconciles with the deal history to the cent." if checked else ""
    return html.Div(text, className="source-note")


def chart(component_id: str) -> html.Div:
    return html.Div(
        dcc.Graph(id=component_id, figure=empty_figure("", "Loading…"), config=GRAPH_CONFIG), className="card chart"
    )


def analytics_section() -> html.Section:
    """Everything follows ``ids.RANGE`` and refreshes when new deals arrive (``ids.DEALS_VERSION``)."""
    return html.Section(
        className="analytics",
        children=[
            html.H2("Trading statistics", style={"fontSize": "16px"}),
            html.Div(id=ids.ANALYTICS_RECONCILIATION),
            html.Div(
                download_links(None, None),
                id=ids.ANALYTICS_DOWNLOADS,
                className="downloads",
                style={"display": "flex", "gap": "8px", "flexWrap": "wrap", "alignItems": "center", "margin": "8px 0"},
            ),
            chart_download_bar(),
            html.Div(notice("Loading statistics…"), id=ids.ANALYTICS_STATS, className="card chart"),
            html.Div(
                [chart(component_id) for component_id in CHART_IDS],
                className="analytics-grid",
                style={
                    "display": "grid",
                    "gridTemplateColumns": "repeat(auto-fit, minmax(min(420px, 100%), 1fr))",
                    "gap": "12px",
                    "marginTop": "12px",
                },
            ),
            html.Div(id=ids.ANALYTICS_DRAWDOWNS, className="card chart table-card", style={"marginTop": "12px"}),
        ],
    )


def _range_text(ms: int | None, open_end: str) -> str:
    return open_end if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def account_summary(login: int, account: Account | None) -> list[tuple[str, str]]:
    """What identifies the account and where it stands; the settings (and so the password) never get here."""
    if account is None:
        return [("Login", str(login)), ("Account", "not known yet: the MT5 source has not answered")]
    a, cur, dig = account, account.currency, account.currency_digits
    return [
        ("Login", str(a.login)),
        ("Name", a.name),
        ("Server", a.server),
        ("Broker", a.company),
        ("Account type", TRADE_MODES.get(a.trade_mode, "Unknown")),
        ("Currency", cur),
        ("Leverage", f"1:{a.leverage}"),
        ("Balance", money(a.balance, cur, dig)),
        ("Credit", money(a.credit, cur, dig)),
        ("Equity", money(a.equity, cur, dig)),
        ("Floating P/L", money(a.profit, cur, dig, signed=True)),
        ("Margin", money(a.margin, cur, dig)),
        ("Free margin", money(a.margin_free, cur, dig)),
        ("Margin level", margin_level(a.margin_level, a.margin)),
    ]


def report_page(
    report: Report, account: Account | None, history: Mapping[str, go.Figure], now_ms: int, clock: Clock
) -> ReportPage:
    """The offline report: the panels of the page for the same range, as plain text and figures."""
    currency, digits, check = report.currency, report.digits, report.reconciliation
    if check is None:
        check_text, ok = "Not checked: the account's balance is not known yet.", False
    else:
        warning = check.warning(currency, digits)
        check_text, ok = warning or "Balance reconciles with the deal history to the cent.", warning is None
    return ReportPage(
        title=f"MT5 account {report.login}: trading report",
        subtitle=(
            f"Range (UTC): {_range_text(report.start_ms, 'start of history')} to {_range_text(report.end_ms, 'now')}"
            f" · generated {_range_text(now_ms, '')} UTC"
        ),
        summary=account_summary(report.login, account),
        check=check_text,
        check_ok=ok,
        notice=None if report.stats["trades"] else "No trades in this range.",
        statistics=[(label, stat_cell(report.stats, key, kind, currency, digits)) for key, label, kind in STAT_ROWS],
        figures=[for_export(fig) for fig in (*history.values(), *analytics_figures(report).values())],
        drawdown_header=(f"{DRAWDOWN_HEADER[0]} ({clock.label(now_ms)})", *DRAWDOWN_HEADER[1:]),
        drawdowns=drawdown_rows([d.to_dict() for d in report.drawdowns], currency, digits, clock),
        trade_header=trade_header(currency, clock.label(now_ms)),
        trades=(trade_row(trade, digits, clock) for trade in report.trades),
        trade_totals=trade_totals_row(report.trades, digits) if report.trades else (),
        trade_note=trade_note(report.stats, report.trades, currency, digits),
    )
