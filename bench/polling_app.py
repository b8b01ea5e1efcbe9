"""The usual way to make a Dash dashboard live, kept only as the benchmarks' reference.

A ``dcc.Interval`` fires at the poll rate and one callback rebuilds the KPI texts and the whole
balance/equity figure from the Redis history (the latest ``points``) on every tick. This is the only
``dcc.Interval`` in the repository: the real page is pushed to over ``/ws`` and appends points.
It reads the same Redis keys the app's streamer writes, so both pages show the same data.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
from dash import Dash, Input, Output, dcc, html, no_update

from services.runtime import Runtime

KPI_FIELDS = ("balance", "equity", "profit", "margin", "margin_free", "margin_level")


def figure(points: list[Any], currency: str) -> go.Figure:
    frame = pd.DataFrame([(p.ts, p.balance, p.equity) for p in points], columns=["ts", "balance", "equity"])
    x = pd.to_datetime(frame["ts"], unit="ms")
    fig = go.Figure()
    fig.add_scatter(x=x, y=frame["balance"], name="Balance", mode="lines", line={"shape": "hv"})
    fig.add_scatter(x=x, y=frame["equity"], name="Equity", mode="lines")
    fig.update_layout(title=f"Balance and equity ({currency})", height=320, margin={"l": 60, "r": 60, "t": 44, "b": 36})
    return fig


def create_polling_app(runtime: Runtime, *, interval_ms: int, points: int = 10_000) -> Dash:
    """A page that polls: KPIs and a chart, rebuilt from Redis every ``interval_ms``."""
    app = Dash(__name__, title="Polling reference", update_title=None, serve_locally=True)
    app.server.extensions["mt5_runtime"] = runtime
    app.layout = html.Div(
        [
            dcc.Interval(id="tick", interval=interval_ms),
            html.Div(id="kpis", className="kpis"),
            dcc.Graph(id="equity-graph", style={"height": "320px"}),
        ]
    )

    @app.callback(Output("equity-graph", "figure"), Output("kpis", "children"), Input("tick", "n_intervals"))
    def refresh(_ticks: int | None) -> Any:
        login = runtime.login()
        snapshot = runtime.store.snapshot(login) if login else None
        if snapshot is None:
            return no_update, "Waiting for account data…"
        account = snapshot["account"]
        history = runtime.store.history(login, count=points)
        kpis = [html.Span(f"{name}: {account[name]:,.2f} ", id=f"kpi-{name}") for name in KPI_FIELDS]
        return figure(history, account["currency"]), kpis

    return app
