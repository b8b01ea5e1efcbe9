"""The range selector and the three history charts: balance/equity, margin/margin level, drawdown.

A range change, a zoom, or the server asking (``ids.CHART_RELOAD``: a reconnect, the history synced) reloads
history from the server, downsampled to the chart's width. The chart state says what the figures hold and
whether the view follows live (``services/live/liveview.py``); the page sends it to its socket, which appends the
live points that come after (``views/charts.py``) only while it does. A zoom whose right edge is past stops
them and shows "Back to live", which resets the zoom as a double click does.
"""

from __future__ import annotations

import time
from typing import Any

import plotly.io as pio
from dash import ClientsideFunction, Dash, Input, Output, Patch, State, ctx, no_update

from callbacks.routing import page_login
from layouts import ids
from layouts.charts import GRAPH_IDS
from layouts.figures import BalanceOnly, history_charts, line_template, template, waiting_figure, whole_life_series
from services.analytics.balance import whole_life
from services.analytics.today import day_bounds
from services.core.brokertime import BrokerZone
from services.core.formatting import money
from services.core.timefmt import Clock, client_clock
from services.core.units import DAY_MS, HOUR_MS
from services.live.liveview import view_of
from services.runtime import Runtime
from services.storage.redis_conn import REDIS_ERRORS
from services.storage.series import Window

RANGE_SPANS = {"1h": HOUR_MS, "7d": 7 * DAY_MS, "30d": 30 * DAY_MS}
GRAPHS = GRAPH_IDS


def selected_range(
    choice: str, start_date: str | None, end_date: str | None, now_ms: int, broker: BrokerZone, clock: Clock
) -> dict | None:
    """The window a range button or the custom dates (whole days of the page's clock) stand for; None for
    Custom without both dates, which shows nothing new. ``to_ms`` None means the window follows live."""
    if choice in RANGE_SPANS:
        return {"choice": choice, "from_ms": now_ms - RANGE_SPANS[choice], "to_ms": None}
    if choice == "today":  # the broker's trading day, whatever the clock: brokers count days from their midnight
        return {"choice": choice, "from_ms": day_bounds(broker, now_ms)[0], "to_ms": None}
    if choice != "custom":
        return {"choice": "all", "from_ms": None, "to_ms": None}
    if not (start_date and end_date):
        return None
    try:
        start, end = clock.day_bounds(start_date, end_date)
    except ValueError:
        return None
    return {"choice": choice, "from_ms": start, "to_ms": end} if start <= end else None


def zoom_window(relayout: dict[str, Any] | None, clock: Clock) -> tuple[int, int] | bool | None:
    """The x range a zoom asked for (UTC ms), False for a reset, None when the event is not a zoom."""
    if not isinstance(relayout, dict):
        return None
    if relayout.get("xaxis.autorange"):
        return False
    bounds = relayout.get("xaxis.range") or [relayout.get("xaxis.range[0]"), relayout.get("xaxis.range[1]")]
    if not all(isinstance(b, str) for b in bounds) or len(bounds) != 2:
        return None
    try:
        start, end = (clock.utc_ms(b) for b in bounds)
    except ValueError:
        return None
    return (start, end) if start < end else None


def range_outputs(
    trigger: Any,
    choice: str,
    start_date: str | None,
    end_date: str | None,
    current: dict | None,
    now_ms: int,
    broker: BrokerZone,
    clock: Clock,
) -> tuple[Any, Any, str]:
    """(the range, the button to select, the hint) for what changed: dates picked or typed switch to Custom
    and apply; Custom without both dates keeps the data shown and says what is missing; a new clock moves
    only a custom range, whose days are the clock's."""
    if trigger == ids.CLIENT and current is not None and choice != "custom":  # the same window, drawn again
        moved = {**current, "clock": clock.param}
        return (no_update if moved == current else moved), no_update, ""
    button = "custom" if trigger == ids.RANGE_DATES and choice != "custom" else no_update
    if trigger == ids.RANGE_DATES:
        choice = "custom"
    selection = selected_range(choice, start_date, end_date, now_ms, broker, clock)
    if selection is None:
        return no_update, button, custom_hint(start_date, end_date, clock.label(now_ms))
    selection["clock"] = clock.param  # a new clock is a new range: every panel follows it
    return (no_update if selection == current else selection), button, ""


def custom_hint(start_date: str | None, end_date: str | None, clock: str) -> str:
    """Why Custom shows no new range yet: the days it lacks (the data shown stays until they are picked)."""
    if start_date and end_date:
        wanted = "a first day on or before the last day"
    elif start_date or end_date:
        wanted = "the last day too" if start_date else "the first day too"
    else:
        wanted = "a first and a last day"
    return f"Custom range: pick {wanted} (days in {clock}); the charts keep the range shown until then."


def chart_outputs(
    runtime: Runtime,
    selection: dict[str, Any] | None,
    client: dict[str, Any] | None,
    theme: str | None,
    zoom: tuple[int, int] | None = None,
    login: int | None = None,
) -> tuple[Any, Any, Any, dict[str, Any], str]:
    """The three figures, the chart state that live appends continue from, and a note on what is shown.

    The state keeps the view (the range's end and the zoom) so that a redraw from the live path shows
    the same window, and the live path can tell when new points pass its right edge.

    Before the window's first recorded point the balance comes from the deals, so "All" opens on the
    account's whole life even when the app started polling only today.
    """
    snapshot = runtime.snapshot_event(login)
    rev = time.time_ns()  # which load the figures are: live points are made for one
    if snapshot is None:
        waiting = waiting_figure("Waiting for account data…", theme)
        return waiting, waiting, waiting, {"login": None}, ""
    account = snapshot["data"]["account"]
    login, currency, digits = account["login"], account["currency"], int(account["currency_digits"])
    broker = runtime.broker_zone(login)
    selection = selection or {"choice": "all", "from_ms": None, "to_ms": None}
    start, end = zoom if zoom else (selection.get("from_ms"), selection.get("to_ms"))
    client = client or {}
    clock = client_clock(client, broker)
    width = int(client.get("width") or 1200)
    try:
        part = whole_life(runtime.store, login, start, end, width, archive=runtime.archive_reader)
    except REDIS_ERRORS:
        waiting = waiting_figure("History unavailable: Redis is down. Live values continue above.", theme)
        return waiting, waiting, waiting, {"login": login, "last_ts": 0, "peak": 0.0, "live": False, "rev": rev}, ""
    window, curve = part.window, part.curve
    series, deals, peak = whole_life_series(part, clock, broker)
    revision = f"{login}:{selection.get('choice')}:{selection.get('from_ms')}:{selection.get('to_ms')}"
    view = view_of(selection.get("to_ms"), zoom, int(time.time() * 1000))
    state = {
        "login": login,
        "last_ts": window.points[-1].ts if window.points else 0,
        "peak": peak,
        "live": view.live,
        "paused": view.paused,
        "to_ms": selection.get("to_ms"),
        "zoom": list(zoom) if zoom else None,
        "rev": rev,
    }
    sync = (snapshot["data"].get("status") or {}).get("history_sync")
    check = None if sync and not sync.get("done") else curve.reconcile(float(account["balance"]), digits)
    note = chart_note(window, curve.count_between(start, end), curve.deals, deals, series.clock)
    if check is not None and not check.ok:
        note += (f" · the deals add up to {money(check.expected_balance, currency, digits)}, "
                 f"the account reports {money(check.balance, currency, digits)}")  # fmt: skip
    return (*history_charts(series, currency, digits, theme, revision, deals), state, note)


def chart_note(window: Window, steps: int, deals_read: int, deals: BalanceOnly | None, clock: str) -> str:
    """What the charts show: the balance steps from deals, where recording starts, the points drawn."""
    parts = [f"{steps:,} balance steps from {deals_read:,} deals"] if steps else []
    if window.points:
        if deals is not None:
            parts.append(f"equity recorded from {deals.recorded_from}")
        parts.append(f"{len(window.points):,} points drawn from {window.stored:,} stored ({window.source})")
    elif deals is not None:
        parts.append("no equity recorded in this range")
    if not parts:
        return "No history in this range yet"
    return " · ".join([*parts, f"times in {clock}"])


def register(app: Dash, runtime: Runtime) -> None:
    @app.callback(
        Output(ids.RANGE, "data"),
        Output(ids.RANGE_BUTTONS, "value"),
        Output(ids.RANGE_HINT, "children"),
        Input(ids.RANGE_BUTTONS, "value"),
        Input(ids.RANGE_DATES, "start_date"),
        Input(ids.RANGE_DATES, "end_date"),
        Input(ids.CLIENT, "data"),
        State(ids.RANGE, "data"),
        State(ids.LOCATION, "pathname"),
    )
    def choose_range(
        choice: str, start_date: str | None, end_date: str | None, client: dict | None, current: dict | None,
        pathname: str | None,
    ) -> tuple[Any, Any, str]:  # fmt: skip
        broker = runtime.broker_zone(page_login(pathname, runtime))
        return range_outputs(
            ctx.triggered_id, choice, start_date, end_date, current, int(time.time() * 1000), broker,
            client_clock(client, broker),
        )  # fmt: skip

    @app.callback(
        *(Output(graph, "figure") for graph in GRAPHS),
        Output(ids.CHART_STATE, "data"),
        Output(ids.CHART_NOTE, "children"),
        Input(ids.RANGE, "data"),
        Input(ids.CHART_ZOOM, "data"),
        Input(ids.CHART_RELOAD, "data"),
        State(ids.CLIENT, "data"),
        State(ids.THEME, "data"),
        State(ids.LOCATION, "pathname"),
    )
    def load_charts(
        selection: dict | None, relayout: dict | None, _reload: Any, client: dict | None, theme: str | None,
        pathname: str | None,
    ) -> Any:  # fmt: skip
        login = page_login(pathname, runtime)
        clock = client_clock(client, runtime.broker_zone(login))
        zoom = zoom_window(relayout, clock) if ctx.triggered_id == ids.CHART_ZOOM else False
        if zoom is None:  # a pan of the y axis, a legend click, a resize: nothing to reload
            return (no_update,) * 5
        return chart_outputs(runtime, selection, client, theme, zoom or None, login)

    app.clientside_callback(
        ClientsideFunction(namespace="mt5", function_name="zoomOf"),
        Output(ids.CHART_ZOOM, "data"),
        Input(ids.EQUITY_GRAPH, "relayoutData"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="mt5", function_name="paused"),
        Output(ids.CHART_PAUSED, "hidden"),
        Input(ids.CHART_STATE, "data"),
    )
    app.clientside_callback(  # the zoom reset reaches load_charts as relayoutData, as a double click's does
        ClientsideFunction(namespace="mt5", function_name="backToLive"),
        Input(ids.CHART_LIVE, "n_clicks"),
        State(ids.EQUITY_GRAPH, "id"),
        prevent_initial_call=True,
    )

    @app.callback(
        *(Output(graph, "figure", allow_duplicate=True) for graph in GRAPHS),
        Input(ids.THEME, "data"),
        prevent_initial_call=True,
    )
    def restyle(theme: str | None) -> tuple[Patch, ...]:
        return tuple(template_patch(theme, lines=True) for _ in GRAPHS)


def template_patch(theme: str | None, lines: bool = False) -> Patch:
    """Switch a figure's template in place; plotly.js needs the template itself, not its name.

    ``lines``: the slim template of the history charts (``line_template``).
    """
    patch = Patch()
    chosen = line_template(theme) if lines else pio.templates[template(theme)]
    patch["layout"]["template"] = chosen.to_plotly_json()
    return patch
