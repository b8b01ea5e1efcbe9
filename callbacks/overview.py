"""The overview page: each frame from ``/ws`` redraws the accounts table, the totals and a Patch of the chart.

The page listens to every account's events, but a frame is only the signal: the lines come from
Redis in a few round trips (``Runtime.account_lines``), so an account that stopped talking is
shown as the monitor sees it, stale, with its last known figures.
"""

from __future__ import annotations

import json
from typing import Any

from dash import Dash, Input, Output, Patch, State, no_update

from callbacks.client import live_socket_and_theme
from layouts import ids
from layouts.overview import account_rows, currency_table, pl_figure
from services.overview import AccountLine, combined, currency_totals
from services.protocol import dumps
from services.redis_conn import REDIS_ERRORS
from services.runtime import Runtime


def frame_seq(message: Any) -> int | None:
    """The batch number to acknowledge, from what the WebSocket component hands over."""
    if not isinstance(message, dict) or not isinstance(message.get("data"), str):
        return None
    try:
        frame = json.loads(message["data"])
    except ValueError:
        return None
    data = frame.get("data") if isinstance(frame, dict) else None
    seq = data.get("seq") if isinstance(data, dict) else None
    return seq if isinstance(seq, int) else None


def summary_text(lines: list[AccountLine]) -> str:
    stale = sum(1 for line in lines if line.stale)
    text = f"{len(lines)} account{'s' if len(lines) != 1 else ''}"
    return text + (f" · {stale} stale" if stale else " · all live")


def banner_text(lines: list[AccountLine]) -> str:
    stale = [line.name or f"#{line.login}" for line in lines if line.stale]
    return f"No recent poll from: {', '.join(stale)}. Their figures are the last known." if stale else ""


def chart_layout(lines: list[AccountLine]) -> list[list[int]]:
    """The logins of each bar trace, one trace per currency, as ``pl_figure`` draws them."""
    currencies = sorted({line.currency or "?" for line in lines})
    return [[line.login for line in lines if (line.currency or "?") == c] for c in currencies]


def chart_update(lines: list[AccountLine], theme: str | None, state: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The whole figure when the accounts or the theme changed; otherwise a Patch of the bar heights."""
    layout = chart_layout(lines)
    if state.get("traces") != layout or state.get("theme") != theme:
        return pl_figure(lines, theme), {"traces": layout, "theme": theme}
    by_login = {line.login: line for line in lines}
    patch = Patch()
    for index, logins in enumerate(layout):
        patch["data"][index]["y"] = [by_login[login].today for login in logins]
    return patch, state


def register(app: Dash, runtime: Runtime) -> None:
    live_socket_and_theme(app, ids.OVERVIEW_WS)

    @app.callback(
        Output(ids.OVERVIEW_TABLE, "children"),
        Output(ids.OVERVIEW_CURRENCIES, "children"),
        Output(ids.OVERVIEW_SUMMARY, "children"),
        Output(ids.OVERVIEW_BANNER, "children"),
        Output(ids.OVERVIEW_CHART, "figure"),
        Output(ids.OVERVIEW_CHART_STATE, "data"),
        Output(ids.OVERVIEW_WS, "send"),
        Input(ids.OVERVIEW_WS, "message"),
        Input(ids.THEME, "data"),
        State(ids.OVERVIEW_CHART_STATE, "data"),
    )
    def refresh(message: Any, theme: str | None, chart_state: dict[str, Any] | None) -> tuple[Any, ...]:
        seq = frame_seq(message)
        ack = no_update if seq is None else dumps({"type": "ack", "seq": seq})
        try:
            lines = runtime.account_lines()
        except REDIS_ERRORS as exc:
            banner = f"Redis is unavailable ({type(exc).__name__}); showing the last figures, retrying."
            return no_update, no_update, no_update, banner, no_update, no_update, ack
        settings = runtime.settings
        totals = currency_totals(lines, dict(settings.fx_rates))
        figure, chart_state = chart_update(lines, theme, chart_state or {})
        return (
            account_rows(lines),
            currency_table(totals, combined(totals, settings.report_currency)),
            summary_text(lines),
            banner_text(lines),
            figure,
            chart_state,
            ack,
        )
