"""KPI cards, one per KPI of ``services/live/kpis.py``: each value, with its change since the broker's day start
where the KPI has one."""

from __future__ import annotations

from dash import html

from layouts import ids
from services.live.kpis import KPIS, Kpi


def kpi_card(kpi: Kpi) -> html.Div:
    return html.Div(
        id=ids.kpi_card(kpi.name),
        className="kpi",
        children=[
            html.Div(kpi.label, className="kpi-label"),
            html.Div("—", id=ids.kpi_value(kpi.name), className="kpi-value"),
            *([] if kpi.change is None else [html.Div(id=ids.kpi_delta(kpi.name), className="kpi-delta")]),
        ],
    )


def kpi_section() -> html.Section:
    return html.Section([kpi_card(kpi) for kpi in KPIS], className="kpis")
