"""Replay: pick a past moment (or click the balance/equity chart) to see the KPIs, positions and orders then."""

from __future__ import annotations

from dash import dcc, html

from layouts import ids


def replay_banner() -> html.Div:
    """Says which moment the cards and grids show while replaying, with the way back."""
    return html.Div(
        id=ids.REPLAY_BANNER,
        className="replay-banner",
        role="status",
        hidden=True,
        children=[
            html.Span(id=ids.REPLAY_TEXT, className="replay-text"),
            html.Button("Back to live", id=ids.REPLAY_LIVE, className="replay-live", n_clicks=0),
        ],
    )


def replay_control() -> html.Div:
    return html.Div(
        className="replay-control",
        children=[
            html.Span("Show the account at", className="replay-label"),
            dcc.DatePickerSingle(
                id=ids.REPLAY_DATE, display_format="YYYY-MM-DD", placeholder="Date", className="replay-date"
            ),
            dcc.Input(
                id=ids.REPLAY_TIME,
                type="text",
                placeholder="HH:MM:SS",
                className="replay-time",
                maxLength=12,
                autoComplete="off",
            ),
            html.Span(id=ids.REPLAY_CLOCK, className="replay-clock"),
            html.Button("Show", id=ids.REPLAY_SHOW, className="replay-show", n_clicks=0),
            html.Span("or click a point of the balance/equity chart", className="replay-hint"),
            html.Span(id=ids.REPLAY_MESSAGE, className="replay-message", role="alert"),
        ],
    )


def replay_section() -> html.Section:
    return html.Section(className="replay", children=[dcc.Store(id=ids.REPLAY), replay_banner(), replay_control()])
