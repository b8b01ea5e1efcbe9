"""The live page: pure functions returning components."""

from __future__ import annotations

from dash import dcc, html
from dash_extensions import WebSocket

from layouts import ids
from layouts.figures import waiting_figure

KPI_LABELS = {
    "balance": "Balance",
    "equity": "Equity",
    "profit": "Floating P/L",
    "margin": "Margin",
    "margin_free": "Free margin",
    "margin_level": "Margin level",
}


def badge(component_id: str, label: str) -> html.Span:
    return html.Span(f"{label}: …", id=component_id, className="badge badge-unknown")


def header() -> html.Header:
    return html.Header(
        className="header",
        children=[
            html.Div(
                [
                    html.H1("MT5 Account", id=ids.ACCOUNT_TITLE),
                    html.Div("Connecting to the live stream…", id=ids.SOURCE_NOTE, className="source-note"),
                ]
            ),
            html.Div(
                className="badges",
                children=[badge(ids.MT5_BADGE, "MT5"), badge(ids.REDIS_BADGE, "Redis"), badge(ids.LINK_BADGE, "Live")],
            ),
        ],
    )


def kpi_card(field: str) -> html.Div:
    return html.Div(
        className="kpi",
        children=[
            html.Div(KPI_LABELS[field], className="kpi-label"),
            html.Div("—", id=ids.kpi_value(field), className="kpi-value"),
        ],
    )


def layout() -> html.Div:
    return html.Div(
        className="page",
        children=[
            WebSocket(id=ids.WS),
            dcc.Store(id=ids.CHART_STATE, data={"login": None, "last_ts": 0}),
            dcc.Store(id=ids.RANGE, data={"from_ms": None, "to_ms": None}),
            header(),
            html.Section([kpi_card(field) for field in ids.KPI_FIELDS], className="kpis"),
            html.Section(
                dcc.Graph(
                    id=ids.EQUITY_GRAPH,
                    figure=waiting_figure("Waiting for account data…"),
                    config={"displaylogo": False, "responsive": True},
                ),
                className="chart",
            ),
        ],
    )
