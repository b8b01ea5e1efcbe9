"""Browser-side glue that has no data in it: the zone, width and chosen clock, the theme, link ages, reconnect
timing, and the live link that applies what the server rendered (``assets/live.js``)."""

from __future__ import annotations

from dash import ClientsideFunction, Dash, Input, Output, State
from dash.dependencies import DashDependency

from layouts import ids


def register(app: Dash) -> None:
    app.clientside_callback(
        ClientsideFunction(namespace="mt5", function_name="client"),
        Output(ids.CLIENT, "data"),
        Input(ids.LOCATION, "pathname"),
        Input(ids.CLOCK, "data"),
    )
    live_socket_and_theme(app, ids.WS)
    app.clientside_callback(
        ClientsideFunction(namespace="mt5", function_name="links"),
        Input(ids.LINKS, "data"),
        Input(ids.WS, "state"),
    )


def live_socket_and_theme(app: Dash, socket_id: str) -> None:
    """What every page has: its socket's URL and reconnect backoff, the Live badge, the theme toggle."""
    app.clientside_callback(
        ClientsideFunction(namespace="mt5", function_name="reconnect"),
        Output(socket_id, "url"),
        Input(socket_id, "state"),
        State(socket_id, "url"),
        State(ids.THEME, "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="mt5", function_name="liveBadge"),
        Output(ids.link_badge("live"), "children"),
        Output(ids.link_badge("live"), "className"),
        Input(socket_id, "state"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="mt5", function_name="toggleTheme"),
        Output(ids.THEME, "data"),
        Input(ids.THEME_TOGGLE, "n_clicks"),
        State(ids.THEME, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="mt5", function_name="applyTheme"),
        Output(ids.THEME_TOGGLE, "children"),
        Input(ids.THEME, "data"),
    )


def live_link(app: Dash, socket_id: str, view: tuple[DashDependency, ...], charts: str | None = None) -> None:
    """Each frame applied as it comes (``charts``: the store naming the charts its own part extends), and
    ``view``, the stores the server renders the page for, sent whenever one changes or the socket opens."""
    app.clientside_callback(
        ClientsideFunction(namespace="mt5live", function_name="frame"),
        Input(socket_id, "message"),
        State(ids.PROTOCOL, "data"),
        *([State(charts, "data")] if charts else []),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="mt5live", function_name="view"),
        Input(socket_id, "state"),
        *view,
    )
