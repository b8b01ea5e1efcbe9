"""The dashboard page: pure functions returning components."""

from __future__ import annotations

from dash import dcc, html
from dash_extensions import WebSocket

from layouts import ids
from layouts.alerts import alert_banner, rule_panel
from layouts.analytics import analytics_section
from layouts.charts import charts_section
from layouts.figures import DEFAULT_THEME
from layouts.header import header
from layouts.kpis import kpi_section
from layouts.replay import replay_section
from layouts.tables import tables_section
from services.core.protocol import PROTOCOL_VERSION
from services.core.timefmt import DEFAULT_CLOCK


def stores() -> list:
    """Client-side state: the live link, what the charts show, the browser's zone and width, the clock, the theme."""
    return [
        WebSocket(id=ids.WS),
        dcc.Location(id=ids.LOCATION),
        dcc.Store(id=ids.CLIENT),
        dcc.Store(id=ids.CLOCK, storage_type="local", data=DEFAULT_CLOCK),
        dcc.Store(id=ids.THEME, storage_type="local", data=DEFAULT_THEME),
        dcc.Store(id=ids.LINKS),
        dcc.Store(id=ids.DAY_START),
        dcc.Store(id=ids.CHART_STATE, data={"login": None}),
        dcc.Store(id=ids.CHART_RELOAD),
        dcc.Store(id=ids.CHART_ZOOM),
        dcc.Store(id=ids.PROTOCOL, data=PROTOCOL_VERSION),
        dcc.Store(id=ids.DEALS_VERSION, data=0),
        dcc.Store(id=ids.RANGE),
    ]


def layout() -> html.Div:
    return html.Div(
        id=ids.PAGE,
        className="page",
        children=[
            *stores(),
            header(),
            alert_banner(),
            replay_section(),
            kpi_section(),
            rule_panel(),
            charts_section(),
            tables_section(),
            analytics_section(),
        ],
    )
