"""Replay on the page: the KPI cards, positions and orders as the archive recorded them at a past moment.

The moment comes from the date and time inputs, read in the page's clock (the one every time on the page
is in), or from a click on the balance/equity chart. The callback reads the archive itself and
fills the cards and grids; ``ids.REPLAY`` keeps only the moment, which the page sends its socket as part
of its view: the server renders that view without them while the charts go on. "Back to live" refills
them from the latest snapshot at once; the live view the page then asks for starts with the whole page,
so the grids hold the rows the next changes are made from.
"""

from __future__ import annotations

import time
from typing import Any

from dash import Dash, Input, Output, State, ctx, no_update
from sqlalchemy.exc import SQLAlchemyError

from callbacks.routing import page_login
from layouts import ids
from services.analytics.replay import Moment, day_at, moment_at
from services.core.brokertime import BrokerZone
from services.core.timefmt import Clock, client_clock
from services.live.render import Updates
from services.runtime import Runtime, UnreadableSnapshot
from services.storage.archive import Archive
from services.storage.redis_conn import REDIS_ERRORS
from views.cards import REPLAYED, blank_kpis, kpi_updates
from views.grids import GRIDS, grid_count, grid_rows

OUTPUTS = [
    (ids.REPLAY, "data"),
    (ids.REPLAY_BANNER, "hidden"),
    (ids.REPLAY_TEXT, "children"),
    (ids.REPLAY_MESSAGE, "children"),
    (ids.REPLAY_DATE, "date"),
    (ids.REPLAY_TIME, "value"),
    *REPLAYED.items(),
]
READ_ERRORS = (SQLAlchemyError, OSError, ValueError, TypeError, KeyError)  # a locked, missing or damaged archive
NO_LEVELS = {"currency": "", "currency_digits": 2, "margin_so_mode": 0, "margin_so_call": 0.0, "margin_so_so": 0.0}


class NotShown(Exception):
    """Why a moment cannot be shown, in the words the page puts under the control."""


def chosen_ms(trigger: Any, date: str | None, time_text: str | None, click: Any, clock: Clock) -> int:
    """UTC ms of the moment asked for: the clicked point's time, or the date and time typed."""
    if trigger == ids.EQUITY_GRAPH:
        points = (click or {}).get("points") or [{}]
        x = points[0].get("x")
        try:
            if isinstance(x, int | float):  # the clock's wall time as epoch ms, as the charts are drawn
                return clock.wall.to_utc_ms(int(x))
            return clock.utc_ms(str(x))
        except ValueError:
            raise NotShown("That point has no time to show.") from None
    if not date:
        raise NotShown("Pick a date, and a time as HH:MM or HH:MM:SS.")
    try:
        return clock.utc_ms(f"{date[:10]} {(time_text or '').strip() or '00:00'}")
    except ValueError:
        raise NotShown(f"Not a time: {(time_text or '')[:12]!r}; type it as HH:MM or HH:MM:SS.") from None


def read_moment(
    archive: Archive | None, login: int | None, broker: BrokerZone, t_ms: int, clock: Clock
) -> tuple[Moment, dict[str, Any]]:
    """The moment and its broker day from the archive; raises NotShown with the reason it cannot be shown."""
    if archive is None:
        raise NotShown("Replay is available from the collector that polls this account: this process keeps no archive.")
    if login is None:
        raise NotShown("No account yet: the MT5 source has not answered.")
    if t_ms > time.time() * 1000:
        raise NotShown("That moment has not come yet: pick one in the past.")
    try:
        moment = moment_at(archive, login, t_ms)
        if moment is not None:
            return moment, day_at(archive, login, broker, t_ms)
        first = archive.first_ts(login)
    except READ_ERRORS as exc:
        raise NotShown(f"The archive cannot be read ({type(exc).__name__}); try again shortly.") from None
    if first is None:
        raise NotShown(f"Nothing recorded for account #{login} in this process's archive yet.")
    raise NotShown(f"Nothing recorded before {clock.text(first)}: pick a later moment.")


def account_updates(
    account: dict[str, Any] | None,
    day: dict[str, Any] | None,
    rows: dict[str, list[dict[str, Any]]],
    clock: Clock,
    broker: BrokerZone,
) -> Updates:
    """Every card, grid and count a replay freezes, from one account (None: nothing to show) and its rows."""
    updates = blank_kpis()
    if account is not None:
        updates.update(kpi_updates(account, day))
    for kind, (grid, count) in GRIDS.items():
        shown = grid_rows(kind, rows[kind], clock, broker)
        updates[grid] = {"rowData": shown}
        updates[count] = {"children": grid_count(kind, shown, (account or {}).get("currency", ""))}
    return updates


def replayed_account(moment: Moment) -> dict[str, Any] | None:
    """The account's figures at the moment: the point's, with the latest record's currency and margin levels."""
    if moment.point is None:
        return None
    point = moment.point
    base = NO_LEVELS if moment.account is None else moment.account.to_dict()
    return {**base, "balance": point.balance, "equity": point.equity, "profit": point.profit, "margin": point.margin,
            "margin_level": point.margin_level, "margin_free": point.equity - point.margin}  # fmt: skip


def moment_updates(moment: Moment, day: dict[str, Any], clock: Clock, broker: BrokerZone) -> Updates:
    """The page while it shows ``moment``: the banner, the cards and the grids."""
    state = moment.state
    rows = {kind: [] if state is None else [r.to_dict() for r in getattr(state, kind)] for kind in GRIDS}
    updates = account_updates(replayed_account(moment), day, rows, clock, broker)
    shown = f"Showing the account at {clock.text(moment.t_ms)} (recorded {clock.text(moment.recorded_ms)})"
    missing = "No balance or equity was recorded by then." if moment.point is None else ""
    updates.update({
        ids.REPLAY: {"data": {"t_ms": moment.t_ms}},
        ids.REPLAY_BANNER: {"hidden": False},
        ids.REPLAY_TEXT: {"children": shown},
        ids.REPLAY_MESSAGE: {"children": missing},
    })  # fmt: skip
    return updates


def live_updates(runtime: Runtime, login: int | None, day: dict[str, Any] | None, clock: Clock) -> Updates:
    """Back to live: the latest snapshot at once (the next batch brings a fresh one for the grids)."""
    try:
        latest = runtime.latest_snapshot(login)
    except (*REDIS_ERRORS, UnreadableSnapshot):
        latest = None
    account = None if latest is None else latest.account.to_dict()
    rows = {kind: [] if latest is None else [r.to_dict() for r in getattr(latest, kind)] for kind in GRIDS}
    updates = account_updates(account, day, rows, clock, runtime.broker_zone(login))
    updates.update({
        ids.REPLAY: {"data": {"back_ms": int(time.time() * 1000)}},
        ids.REPLAY_BANNER: {"hidden": True},
        ids.REPLAY_TEXT: {"children": ""},
        ids.REPLAY_MESSAGE: {"children": ""},
    })  # fmt: skip
    return updates


def as_outputs(updates: Updates) -> list[Any]:
    return [updates.get(component_id, {}).get(prop, no_update) for component_id, prop in OUTPUTS]


def register(app: Dash, runtime: Runtime) -> None:
    @app.callback(
        Output(ids.REPLAY_CLOCK, "children"),
        Input(ids.CLIENT, "data"),
        State(ids.LOCATION, "pathname"),
    )
    def clock_name(client: dict | None, pathname: str | None) -> str:
        clock = client_clock(client, runtime.broker_zone(page_login(pathname, runtime)))
        return clock.label(int(time.time() * 1000))

    @app.callback(
        *(Output(component_id, prop) for component_id, prop in OUTPUTS),
        Input(ids.REPLAY_SHOW, "n_clicks"),
        Input(ids.REPLAY_TIME, "n_submit"),
        Input(ids.EQUITY_GRAPH, "clickData"),
        Input(ids.REPLAY_LIVE, "n_clicks"),
        State(ids.REPLAY_DATE, "date"),
        State(ids.REPLAY_TIME, "value"),
        State(ids.DAY_START, "data"),
        State(ids.CLIENT, "data"),
        State(ids.LOCATION, "pathname"),
        prevent_initial_call=True,
    )
    def replay(*args: Any) -> list[Any]:
        _show, _submit, click, _live, date, time_text, day, client, pathname = args
        login = page_login(pathname, runtime)
        broker = runtime.broker_zone(login)
        clock = client_clock(client, broker)
        if ctx.triggered_id == ids.REPLAY_LIVE:
            return as_outputs(live_updates(runtime, login, day, clock))
        try:
            t_ms = chosen_ms(ctx.triggered_id, date, time_text, click, clock)
            moment, moment_day = read_moment(runtime.archive_reader, login, broker, t_ms, clock)
        except NotShown as reason:
            return as_outputs({ids.REPLAY_MESSAGE: {"children": str(reason)}})
        updates = moment_updates(moment, moment_day, clock, broker)
        if ctx.triggered_id == ids.EQUITY_GRAPH:  # the inputs show the clicked moment, to nudge from
            wall = clock.text(t_ms)
            updates[ids.REPLAY_DATE] = {"date": wall[:10]}
            updates[ids.REPLAY_TIME] = {"value": wall[11:19]}
        return as_outputs(updates)
