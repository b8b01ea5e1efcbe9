"""The range selector and the three history charts."""

from __future__ import annotations

from dash import dcc, html

from layouts import ids
from layouts.figures import waiting_figure

RANGE_OPTIONS = [
    {"label": "1 h", "value": "1h"},
    {
        "label": html.Span("Today (broker)", title="Since the broker's midnight: the trading day MT5 counts"),
        "value": "today",
    },
    {"label": "7 d", "value": "7d"},
    {"label": "30 d", "value": "30d"},
    {"label": "All", "value": "all"},
    {"label": "Custom", "value": "custom"},
]
GRAPH_IDS = (ids.EQUITY_GRAPH, ids.MARGIN_GRAPH, ids.DRAWDOWN_GRAPH)
GRAPH_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def graph(component_id: str, height: int) -> dcc.Graph:
    return dcc.Graph(
        id=component_id,
        figure=waiting_figure("Loading history…"),
        config=GRAPH_CONFIG,
        style={"height": f"{height}px"},
    )


def range_selector() -> html.Div:
    return html.Div(
        className="range-bar",
        children=[
            dcc.RadioItems(
                id=ids.RANGE_BUTTONS,
                options=RANGE_OPTIONS,
                value="all",  # the account's whole life: the balance from deals reaches back to the first deposit
                className="segmented",
                inputClassName="segmented-input",
                labelClassName="segmented-label",
            ),
            dcc.DatePickerRange(
                id=ids.RANGE_DATES,
                clearable=True,
                display_format="YYYY-MM-DD",
                className="dates",
                minimum_nights=0,
                start_date_id=ids.RANGE_DATE_INPUTS[0],
                end_date_id=ids.RANGE_DATE_INPUTS[1],
            ),
            html.Span(id=ids.RANGE_HINT, className="range-hint", role="status"),
            paused_control(),
            html.Span(id=ids.CHART_NOTE, className="chart-note"),
            history_sync(),
        ],
    )


def paused_control() -> html.Div:
    """Says why the charts stopped moving, with the way back: a zoom into the past takes no live points."""
    return html.Div(
        id=ids.CHART_PAUSED,
        className="chart-paused",
        role="status",
        hidden=True,
        children=[
            html.Span("Live paused: a past window is shown", className="chart-paused-text"),
            html.Button("Back to live", id=ids.CHART_LIVE, className="chart-live", n_clicks=0),
        ],
    )


def history_sync() -> html.Div:
    """The terminal's deal history being read: hidden until a status says so, then until it is done."""
    return html.Div(
        id=ids.HISTORY_SYNC,
        className="history-sync",
        hidden=True,
        children=[
            html.Span(id=ids.HISTORY_SYNC_TEXT),
            html.Progress(id=ids.HISTORY_SYNC_BAR, className="history-sync-bar", max=1, value=0),
        ],
    )


def charts_section() -> html.Section:
    return html.Section(
        className="charts",
        children=[
            range_selector(),
            dcc.Loading(
                type="dot",
                delay_show=300,
                target_components={
                    graph_id: "figure" for graph_id in (ids.EQUITY_GRAPH, ids.MARGIN_GRAPH, ids.DRAWDOWN_GRAPH)
                },
                children=html.Div(
                    className="chart-grid",
                    children=[
                        html.Div(graph(ids.EQUITY_GRAPH, 320), className="card chart-wide"),
                        html.Div(graph(ids.MARGIN_GRAPH, 320), className="card"),
                        html.Div(graph(ids.DRAWDOWN_GRAPH, 320), className="card"),
                    ],
                ),
            ),
        ],
    )
