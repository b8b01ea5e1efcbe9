"""The analytics panels: statistics, breakdown charts, deepest drawdowns, downloads, the balance check.

Pure functions from plain data (``services.analytics.Report`` parts) to components and figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import plotly.graph_objects as go
from dash import dcc, html

from layouts import ids
from services.export import TABLES, utc_iso
from services.formatting import money

GAIN_COLOR, LOSS_COLOR = "#16a34a", "#dc2626"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
GRAPH_CONFIG = {"displaylogo": False, "responsive": True}
CHART_IDS = (
    ids.ANALYTICS_MONTHLY,
    ids.ANALYTICS_BY_SYMBOL,
    ids.ANALYTICS_BY_DIRECTION,
    ids.ANALYTICS_BY_HOUR,
    ids.ANALYTICS_BY_WEEKDAY,
    ids.ANALYTICS_HISTOGRAM,
)

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
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
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


def stats_panel(stats: Mapping[str, Any], currency: str, digits: int) -> html.Dl:
    return html.Dl(
        className="stats-grid",
        style={"display": "grid", "gridTemplateColumns": "repeat(auto-fill, minmax(220px, 1fr))", "gap": "6px 16px"},
        children=[
            html.Div(
                [
                    html.Dt(label, className="kpi-label"),
                    html.Dd(
                        stat_text(stats.get(key), kind, currency, digits),
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


def _frame(title: str, height: int = 300) -> go.Figure:
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
    fig = _frame(title, height=max(180, 80 + 40 * len(years)))
    fig.add_heatmap(
        z=grid,
        x=list(MONTHS),
        y=[str(year) for year in years],
        text=text,
        texttemplate="%{text}",
        colorscale="RdYlGn",
        zmid=0,
        hovertemplate="%{y} %{x}: %{text}<extra></extra>",
        colorbar={"ticksuffix": "%"},
    )
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def pl_bar_figure(
    rows: Sequence[Mapping[str, Any]], key: str, title: str, currency: str, labels: Sequence[str] | None = None
) -> go.Figure:
    """Net result per group, green above zero and red below; the hover shows the trade count and win rate."""
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
    fig.update_xaxes(type="category")
    fig.update_yaxes(tickformat=",.2f", zeroline=True)
    return fig


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
    fig.update_xaxes(tickformat=",.2f")
    return fig


def _utc_text(ms: int | None) -> str:
    return "—" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def drawdowns_table(drawdowns: Sequence[Mapping[str, Any]], currency: str, digits: int) -> html.Div:
    """The deepest falls on the equity history, deepest first; times in UTC."""
    if not drawdowns:
        return html.Div([html.H3("Deepest drawdowns"), notice("No drawdown on the equity history in this range")])
    header = ("Start (UTC)", "Bottom", "Recovery", "Depth", "Depth %", "Duration")
    rows = [
        html.Tr(
            [
                html.Td(_utc_text(d["start_ms"])),
                html.Td(_utc_text(d["bottom_ms"])),
                html.Td("not yet" if d["recovery_ms"] is None else _utc_text(d["recovery_ms"])),
                html.Td(money(-d["depth"], currency, digits)),
                html.Td(f"{d['depth_pct'] * 100:.2f} %"),
                html.Td(duration_text(d["duration_s"]) + ("" if d["recovery_ms"] is not None else " so far")),
            ]
        )
        for d in drawdowns
    ]
    return html.Div(
        [
            html.H3("Deepest drawdowns", style={"fontSize": "14px"}),
            html.Table(
                [html.Thead(html.Tr([html.Th(h) for h in header])), html.Tbody(rows)],
                className="drawdowns",
                style={"width": "100%", "fontVariantNumeric": "tabular-nums"},
            ),
        ]
    )


def export_url(name: str, start_ms: int | None, end_ms: int | None) -> str:
    query = {key: utc_iso(ms) for key, ms in (("from", start_ms), ("to", end_ms)) if ms is not None}
    return f"/export/{name}.csv" + (f"?{urlencode(query)}" if query else "")


def download_links(start_ms: int | None, end_ms: int | None) -> list[Any]:
    """Plain links: the browser downloads the streamed CSV itself, however large."""
    return [
        html.Span("Download CSV: ", className="kpi-label"),
        *(
            html.A(name, href=export_url(name, start_ms, end_ms), download="", className="badge", id=f"download-{name}")
            for name in TABLES
        ),
    ]


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
            html.Div(notice("Loading statistics…"), id=ids.ANALYTICS_STATS, className="card chart"),
            html.Div(
                [chart(component_id) for component_id in CHART_IDS],
                className="analytics-grid",
                style={
                    "display": "grid",
                    "gridTemplateColumns": "repeat(auto-fit, minmax(420px, 1fr))",
                    "gap": "12px",
                    "marginTop": "12px",
                },
            ),
            html.Div(id=ids.ANALYTICS_DRAWDOWNS, className="card chart", style={"marginTop": "12px"}),
        ],
    )
