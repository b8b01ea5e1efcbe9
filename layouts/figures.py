"""Plotly figures built in Python; the page receives them whole only on (re)load, then small appends.

x values are the wall-clock time of the page's clock (broker, local or UTC; ``services/core/timefmt.py``)
as epoch ms: plotly shows numbers on a date axis as UTC, so they read as that clock's times, named in the
x axis title; they are half the size of date strings and need no parsing.
The hover shows the broker's server time from ``customdata``, carried by one trace per figure: the
unified hover lists every trace at that x, so one line of server time is enough.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import plotly.graph_objects as go
import plotly.io as pio

from services.analytics.balance import WholeLife
from services.core.brokertime import BrokerZone
from services.core.models import HistoryPoint
from services.core.timefmt import Clock, server_times

BALANCE_COLOR = "#2563eb"
EQUITY_COLOR = "#16a34a"
MARGIN_COLOR = "#d97706"
LEVEL_COLOR = "#7c3aed"
DRAWDOWN_COLOR = "#dc2626"
BALANCE_ONLY_FILL = "rgba(37, 99, 235, 0.07)"
BALANCE_ONLY_DRAWDOWN_FILL = "rgba(220, 38, 38, 0.12)"
LIVE_POINTS = 20_000
TEMPLATES = {"light": "plotly_white", "dark": "plotly_dark"}
DEFAULT_THEME = "light"
# a profit green, a loss red, nothing grey: the page's --ok, --bad and --muted of each theme (assets/style.css)
SIGN_COLORS = {
    "light": {"gain": "#16a34a", "loss": "#dc2626", "none": "#9ca3af"},
    "dark": {"gain": "#4ade80", "loss": "#f87171", "none": "#6b7280"},
}


@dataclass(frozen=True, slots=True)
class Series:
    """Chart-ready history: the page clock's times for x, server times for hover, one list per value."""

    x: list[int]
    server: list[str]
    balance: list[float]
    equity: list[float]
    margin: list[float]
    margin_level: list[float | None]
    drawdown_pct: list[float]
    clock: str = ""  # the clock's name, the x axis title


@dataclass(frozen=True, slots=True)
class BalanceOnly:
    """The balance rebuilt from deals where the chart has no recorded point: before ``recorded_from``."""

    x: list[int]
    server: list[str]
    balance: list[float]
    drawdown_pct: list[float]
    recorded_from: str | None  # the first recorded point's time; None when nothing was recorded in range


def template(theme: str | None) -> str:
    return TEMPLATES.get(theme or DEFAULT_THEME, TEMPLATES[DEFAULT_THEME])


def sign_color(value: float | None, theme: str | None) -> str:
    """Green for a profit, red for a loss, grey for none or unknown, readable on the theme's background."""
    colors = SIGN_COLORS.get(theme or DEFAULT_THEME, SIGN_COLORS[DEFAULT_THEME])
    return colors["none"] if not value else colors["gain"] if value > 0 else colors["loss"]


@cache
def line_template(theme: str | None) -> go.layout.Template:
    """The theme's layout and scatter defaults only: plotly's full templates carry every trace type
    (7 KB per figure) and the browser applies all of it on each redraw of a live chart."""
    full = pio.templates[template(theme)]
    return go.layout.Template(layout=full.layout, data={"scatter": full.data.scatter})


@cache
def _line_template_json(theme: str | None) -> dict:
    return line_template(theme).to_plotly_json()


def _layout(
    title: str, theme: str | None, revision: str, height: int = 320, clock: str = "", **extra: dict | bool | list
) -> dict:
    """``clock``: the name of the clock the x values are in, written under the axis."""
    axis_title = {"title": {"text": f"Times: {clock}", "font": {"size": 11}, "standoff": 4}} if clock else {}
    layout = {
        "title": {"text": title, "x": 0.01, "y": 0.97, "font": {"size": 14}},
        "margin": {"l": 60, "r": 60, "t": 44, "b": 52 if clock else 36},
        "height": height,
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": 1.0, "x": 0.5, "xanchor": "center", "yanchor": "bottom"},
        "xaxis": {"type": "date", **axis_title},
        "yaxis": {},
        "template": _line_template_json(theme),
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "uirevision": revision,
        **extra,
    }
    for axis in [name for name in layout if name.startswith(("xaxis", "yaxis"))]:
        layout[axis] = {**layout[axis], "ticklabeloverflow": "allow"}  # no measuring labels at every redraw
    return layout


def _figure(layout: dict, traces: list[dict]) -> dict:
    """A figure of line traces as a plain dict, built here from numbers and strings.

    The page gets these dicts as they are: a ``go.Figure`` would check every element of every data
    array when built (about 100 ms for three figures of a few thousand points) and be deep-copied
    and walked again on its way to JSON (12 ms), at every range change, zoom and reconnect.
    """
    return {"data": [{"type": "scatter", "mode": "lines", **trace} for trace in traces], "layout": layout}


def history_charts(
    series: Series, currency: str, digits: int, theme: str | None, revision: str, deals: BalanceOnly | None = None
) -> tuple[dict, dict, dict]:
    """The page's balance/equity, margin and drawdown charts; ``deals`` is drawn before the recorded part."""
    return (
        _equity(series, currency, digits, theme, revision, deals),
        _margin(series, currency, digits, theme, revision),
        _drawdown(series, theme, revision, deals),
    )


def _as_figure(spec: dict) -> go.Figure:
    """A chart as a ``go.Figure`` for the exports, which change it further (no second check of its data)."""
    return go.Figure(copy.deepcopy(spec), _validate=False)


def waiting_figure(message: str, theme: str | None = None) -> go.Figure:
    fig = go.Figure(layout=_layout("", theme, "waiting", height=320))
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _hover(money_format: str) -> str:
    """The first trace's hover line, with the server time (an empty ``customdata`` on the others
    keeps every trace of a figure extendable in one ``extendData`` call)."""
    return f"%{{y:{money_format}}}<br><span style='font-size:11px'>server %{{customdata}}</span>"


def equity_figure(
    series: Series, currency: str, digits: int, theme: str | None, revision: str, deals: BalanceOnly | None = None
) -> go.Figure:
    return _as_figure(_equity(series, currency, digits, theme, revision, deals))


def margin_figure(series: Series, currency: str, digits: int, theme: str | None, revision: str) -> go.Figure:
    return _as_figure(_margin(series, currency, digits, theme, revision))


def drawdown_figure(series: Series, theme: str | None, revision: str, deals: BalanceOnly | None = None) -> go.Figure:
    return _as_figure(_drawdown(series, theme, revision, deals))


def _balance_only_marks(deals: BalanceOnly, end_x: int) -> dict:
    """A shaded band over the balance-only part and a label at its end, so a trader sees what was recorded.

    The label sits inside the wider side of the boundary, so a narrow band does not push it off the plot.
    """
    recorded = f"recorded from {deals.recorded_from}" if deals.recorded_from else "no equity recorded in this range"
    label = f"balance from deals<br>{recorded}"  # two short lines fit over a phone-wide chart
    start, cut = deals.x[0], deals.x[-1]
    anchor = "right" if cut - start >= end_x - cut else "left"
    return {
        "shapes": [{"type": "rect", "xref": "x", "yref": "paper", "x0": start, "x1": cut, "y0": 0, "y1": 1,
                    "fillcolor": BALANCE_ONLY_FILL, "line": {"width": 0}, "layer": "below"}],
        "annotations": [{"text": label, "xref": "x", "yref": "paper", "x": cut, "y": 1, "xanchor": anchor,
                         "align": anchor, "yanchor": "top", "showarrow": False, "font": {"size": 11}}],
    }  # fmt: skip


def _equity(
    series: Series, currency: str, digits: int, theme: str | None, revision: str, deals: BalanceOnly | None = None
) -> dict:
    """Balance as a step line (it moves only on closed trades and cash flows), equity continuous.

    Traces 0 and 1 are the recorded balance and equity (live points extend them); the balance from
    deals, dotted over a shaded band, comes third and covers what was never recorded.
    """
    money = f",.{digits}f"
    marks = {} if deals is None else _balance_only_marks(deals, series.x[-1] if series.x else deals.x[-1])
    layout = _layout(
        f"Balance and equity ({currency})", theme, revision, clock=series.clock, yaxis={"tickformat": money}, **marks
    )
    balance = dict(
        x=series.x,
        y=series.balance,
        customdata=series.server,
        name="Balance",
        line={"color": BALANCE_COLOR, "shape": "hv", "width": 2},
        hovertemplate=_hover(money),
    )
    equity = dict(
        x=series.x,
        y=series.equity,
        customdata=[],
        name="Equity",
        line={"color": EQUITY_COLOR, "width": 1.5},
        hovertemplate=f"%{{y:{money}}}",
    )
    if deals is None:
        return _figure(layout, [balance, equity])
    from_deals = dict(
        x=deals.x,
        y=deals.balance,
        customdata=deals.server,
        name="Balance (from deals)",
        line={"color": BALANCE_COLOR, "shape": "hv", "width": 2, "dash": "dot"},
        hovertemplate=_hover(money),
    )
    return _figure(layout, [balance, equity, from_deals])


def _margin(series: Series, currency: str, digits: int, theme: str | None, revision: str) -> dict:
    layout = _layout(
        f"Margin ({currency}) and margin level (%)",
        theme,
        revision,
        clock=series.clock,
        yaxis={"tickformat": f",.{digits}f"},
        yaxis2={"overlaying": "y", "side": "right", "ticksuffix": " %", "showgrid": False},
    )
    margin = dict(
        x=series.x,
        y=series.margin,
        customdata=series.server,
        name="Margin",
        line={"color": MARGIN_COLOR, "width": 1.5},
        hovertemplate=_hover(f",.{digits}f"),
    )
    level = dict(
        x=series.x,
        y=series.margin_level,
        customdata=[],
        name="Margin level",
        yaxis="y2",
        connectgaps=False,
        line={"color": LEVEL_COLOR, "width": 1.5},
        hovertemplate="%{y:,.0f} %",
    )
    return _figure(layout, [margin, level])


def _drawdown(series: Series, theme: str | None, revision: str, deals: BalanceOnly | None = None) -> dict:
    """The underwater chart: how far equity stands below its running peak; before the first recorded
    point, how far the balance from deals stood below its own (trace 1, after the live-extended one)."""
    title = "Drawdown from equity peak (%)"
    if deals is not None:
        title = "Drawdown from peak (%): balance from deals, then recorded equity"
    layout = _layout(
        title,
        theme,
        revision,
        height=240,
        clock=series.clock,
        yaxis={"ticksuffix": " %", "rangemode": "tozero"},
        showlegend=False,
    )
    drawdown = dict(
        x=series.x,
        y=series.drawdown_pct,
        customdata=series.server,
        name="Drawdown",
        fill="tozeroy",
        line={"color": DRAWDOWN_COLOR, "width": 1},
        hovertemplate=_hover(".2f") + " %",
    )
    if deals is None:
        return _figure(layout, [drawdown])
    from_deals = dict(
        x=deals.x,
        y=deals.drawdown_pct,
        customdata=deals.server,
        name="Drawdown (balance from deals)",
        fill="tozeroy",
        fillcolor=BALANCE_ONLY_DRAWDOWN_FILL,
        line={"color": DRAWDOWN_COLOR, "width": 1, "dash": "dot", "shape": "hv"},
        hovertemplate=_hover(".2f") + " %",
    )
    return _figure(layout, [drawdown, from_deals])


def drawdown_pct(equity: Sequence[float], peak: float) -> tuple[list[float], float]:
    """Drawdown of each point from the running peak (starting at ``peak``), and the final peak."""
    values: list[float] = []
    for value in equity:
        peak = max(peak, value)
        values.append(round((value / peak - 1) * 100, 4) if peak > 0 else 0.0)
    return values, peak


def to_series(
    points: Sequence[HistoryPoint], clock: Clock, broker: BrokerZone, peak: float = 0.0
) -> tuple[Series, float]:
    """History points as chart series in the page's clock; also returns the running equity peak."""
    ts = [p.ts for p in points]
    equity = [p.equity for p in points]
    drawdown, peak = drawdown_pct(equity, peak)
    series = Series(
        x=clock.walls(ts),
        server=server_times(ts, broker),
        balance=[p.balance for p in points],
        equity=equity,
        margin=[p.margin for p in points],
        margin_level=[p.margin_level if p.margin > 0 else None for p in points],
        drawdown_pct=drawdown,
        clock=clock.label(ts[-1] if ts else int(time.time() * 1000)),
    )
    return series, peak


def balance_only_part(
    ts: Sequence[int], balance: Sequence[float], clock: Clock, broker: BrokerZone, recorded_from_ms: int | None
) -> tuple[BalanceOnly, float]:
    """The balance from deals as a chart part in the page's clock; also returns its running peak,
    where the recorded part's drawdown continues from."""
    drawdown, peak = drawdown_pct(balance, 0.0)
    recorded = None if recorded_from_ms is None else clock.text(recorded_from_ms)[:16]
    part = BalanceOnly(clock.walls(ts), server_times(ts, broker), list(balance), drawdown, recorded)
    return part, peak


def whole_life_series(part: WholeLife, clock: Clock, broker: BrokerZone) -> tuple[Series, BalanceOnly | None, float]:
    """The recorded series and the balance from deals before it (None when no deal came first), with
    the equity peak the live points continue from: the recorded drawdown carries on from the deals' peak."""
    deals, peak = None, 0.0
    if len(part.steps_ts):
        steps = part.steps_ts.tolist(), part.steps_balance.tolist()
        deals, peak = balance_only_part(*steps, clock, broker, part.recorded_from)
    series, peak = to_series(part.window.points, clock, broker, peak)
    return series, deals, peak


def live_series(ts: Sequence[int], clock: Clock, broker: BrokerZone) -> tuple[list[int], list[str]]:
    """x values and hover times of live points, as ``to_series`` makes them."""
    return clock.walls(ts), server_times(ts, broker)
