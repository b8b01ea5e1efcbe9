"""KPI cards: each value with its change since the broker's day start."""

from __future__ import annotations

from dash import html

from layouts import ids

KPI_LABELS = {
    "balance": "Balance",
    "equity": "Equity",
    "profit": "Floating P/L",
    "margin": "Margin",
    "margin_free": "Free margin",
    "margin_level": "Margin level",
    "today": "Today's P/L",
}


def kpi_card(field: str) -> html.Div:
    return html.Div(
        id=ids.kpi_card(field),
        className="kpi",
        children=[
            html.Div(KPI_LABELS[field], className="kpi-label"),
            html.Div("—", id=ids.kpi_value(field), className="kpi-value"),
            html.Div(id=ids.kpi_delta(field), className="kpi-delta"),
        ],
    )


def kpi_section() -> html.Section:
    return html.Section([kpi_card(field) for field in ids.KPI_FIELDS], className="kpis")
