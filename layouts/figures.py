"""Plotly figures built in Python; the page only receives them or small patches of them."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from services.models import HistoryPoint

BALANCE_COLOR = "#2563eb"
EQUITY_COLOR = "#16a34a"
LIVE_POINTS = 20_000


def _frame(title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 14}},
        margin={"l": 56, "r": 16, "t": 40, "b": 36},
        height=360,
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
        xaxis={"type": "date"},
        yaxis={"tickformat": ",.2f"},
        template="plotly_white",
        uirevision="equity",
    )
    return fig


def waiting_figure(message: str) -> go.Figure:
    fig = _frame("Balance and equity")
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def equity_figure(points: Sequence[HistoryPoint], currency: str) -> go.Figure:
    """Balance as a step line (it moves only on closed trades), equity as a continuous line."""
    fig = _frame(f"Balance and equity ({currency})")
    times = [p.ts for p in points]
    fig.add_scatter(
        x=times,
        y=[p.balance for p in points],
        name="Balance",
        mode="lines",
        line={"color": BALANCE_COLOR, "shape": "hv", "width": 2},
    )
    fig.add_scatter(
        x=times, y=[p.equity for p in points], name="Equity", mode="lines", line={"color": EQUITY_COLOR, "width": 1.5}
    )
    return fig
