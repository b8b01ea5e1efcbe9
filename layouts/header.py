"""The header: who the account is, and whether each link (MT5, Redis, live) is fresh."""

from __future__ import annotations

from dash import dcc, html

from layouts import ids
from services.core.timefmt import CLOCKS

LINK_LABELS = {"mt5": "MT5", "redis": "Redis", "live": "Live"}


def clock_picker() -> html.Div:
    """Which clock every time of the page is in; its options are named with their offsets by
    ``callbacks/client.py`` once the browser's zone and the broker's clock are known."""
    return html.Div(
        className="clock-picker",
        children=[
            html.Span("Times:", className="clock-picker-label"),
            dcc.RadioItems(
                id=ids.CLOCK_PICKER,
                options=[{"label": choice.capitalize(), "value": choice} for choice in CLOCKS],
                className="segmented",
                inputClassName="segmented-input",
                labelClassName="segmented-label",
            ),
        ],
    )


def link_badge(name: str) -> html.Span:
    """A badge whose age (and stale mark) ``assets/mt5.js`` keeps current between pushes."""
    return html.Span(
        id=ids.link_wrap(name),
        className="link",
        children=[
            html.Span(f"{LINK_LABELS[name]}: …", id=ids.link_badge(name), className="badge badge-unknown"),
            html.Span(id=ids.link_age(name), className="age"),
        ],
    )


def header() -> html.Header:
    return html.Header(
        className="header",
        children=[
            html.Div(
                className="identity",
                children=[
                    html.H1("MT5 Account", id=ids.ACCOUNT_TITLE),
                    html.Div(
                        className="details",
                        children=[
                            html.Span(id=ids.TRADE_MODE, className="pill"),
                            html.Span(id=ids.MARGIN_MODE, className="pill pill-neutral"),
                            html.Span("Connecting to the live stream…", id=ids.ACCOUNT_DETAILS),
                        ],
                    ),
                    html.Div(id=ids.SOURCE_NOTE, className="source-note"),
                ],
            ),
            html.Div(
                className="header-right",
                children=[
                    html.A("All accounts", id=ids.OVERVIEW_LINK, href="/overview/", className="overview-link"),
                    dcc.Dropdown(
                        id=ids.ACCOUNT_SWITCH,
                        clearable=False,
                        searchable=False,
                        className="account-switch",
                        placeholder="Account",
                    ),
                    clock_picker(),
                    html.Div([link_badge(name) for name in ids.LINK_NAMES], className="badges"),
                    html.Button("Dark theme", id=ids.THEME_TOGGLE, className="theme-toggle", n_clicks=0),
                ],
            ),
            html.Div(id=ids.STALE_BANNER, className="stale-banner", role="status"),
        ],
    )
