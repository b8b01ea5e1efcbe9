"""The analytics panels follow the range selector (``ids.RANGE``) and refresh when deals arrive.

One report is built per update, in Python, and every panel is drawn from it. Redis being down
or the account not being known yet shows a notice in the panels instead of failing the callback.
The download links carry the same range, so a file holds what the page shows.
"""

from __future__ import annotations

import time
from typing import Any

from dash import Dash, Input, Output, Patch, State

from callbacks.charts import template_patch
from callbacks.routing import page_login
from layouts import ids
from layouts.analytics import (
    CHART_IDS,
    CHART_NAMES,
    CHART_PICKER,
    analytics_figures,
    chart_link_id,
    chart_links,
    download_links,
    drawdowns_table,
    empty_figure,
    notice,
    reconciliation_line,
    stats_panel,
)
from layouts.figures import template
from services.analytics.charts_export import FORMATS
from services.analytics.period import Report, build_report
from services.core.models import Account
from services.core.timefmt import Clock, client_clock
from services.runtime import Runtime
from services.storage.redis_conn import REDIS_ERRORS

CHART_TITLES = (
    "Monthly returns",
    "P/L by symbol",
    "P/L by direction",
    "P/L by hour",
    "P/L by weekday",
    "Trade results",
)


def range_bounds(selection: Any) -> tuple[int | None, int | None]:
    """``{"from_ms", "to_ms"}`` from the range store; anything that is not an int counts as an open end."""
    if not isinstance(selection, dict):
        return None, None
    bounds = [selection.get("from_ms"), selection.get("to_ms")]
    start, end = (value if isinstance(value, int) and not isinstance(value, bool) else None for value in bounds)
    return start, end


def placeholder_outputs(message: str, links: list[Any]) -> tuple[Any, ...]:
    figures = [empty_figure(title, message) for title in CHART_TITLES]
    return (notice(message), reconciliation_line(None, False), links, *figures, notice(message))


def report_outputs(report: Report, links: list[Any], clock: Clock) -> tuple[Any, ...]:
    currency, digits = report.currency, report.digits
    check = report.reconciliation
    return (
        stats_panel(report.stats, currency, digits),
        reconciliation_line(None if check is None else check.warning(currency, digits), check is not None),
        links,
        *analytics_figures(report).values(),
        drawdowns_table([d.to_dict() for d in report.drawdowns], currency, digits, clock, int(time.time() * 1000)),
    )


def analytics_outputs(
    runtime: Runtime, selection: Any, login: int | None = None, client: dict | None = None
) -> tuple[Any, ...]:
    """The panels for the page's account in its clock (``client``: ``ids.CLIENT``); the export links (routes of
    the default account) only on its page."""
    start, end = range_bounds(selection)
    own = login is None or login == runtime.login()
    login = runtime.login() if login is None else login
    clock = client_clock(client, runtime.broker_zone(login))
    links = download_links(start, end, clock) if own else []
    if login is None:
        return placeholder_outputs("Waiting for account data…", links)
    try:
        snapshot = runtime.snapshot_event(login)
        account = Account.from_mt5(snapshot["data"]["account"]) if snapshot else None
        report = build_report(
            runtime.store,
            login,
            account,
            start_ms=start,
            end_ms=end,
            server_offset_s=runtime.broker_zone(login),
            archive=runtime.archive_reader,
            clock=clock,
        )
    except REDIS_ERRORS:
        return placeholder_outputs("Statistics unavailable: Redis is down. They come back with it.", links)
    return report_outputs(report, links, clock)


def register(app: Dash, runtime: Runtime) -> None:
    @app.callback(
        Output(ids.ANALYTICS_STATS, "children"),
        Output(ids.ANALYTICS_RECONCILIATION, "children"),
        Output(ids.ANALYTICS_DOWNLOADS, "children"),
        *(Output(chart_id, "figure") for chart_id in CHART_IDS),
        Output(ids.ANALYTICS_DRAWDOWNS, "children"),
        Input(ids.RANGE, "data"),
        Input(ids.DEALS_VERSION, "data"),
        State(ids.CLIENT, "data"),
        State(ids.THEME, "data"),
        State(ids.LOCATION, "pathname"),
    )
    def update_analytics(
        selection: Any, _deals_version: int | None, client: dict | None, theme: str | None, pathname: str | None
    ) -> tuple[Any, ...]:
        outputs = analytics_outputs(runtime, selection, page_login(pathname, runtime), client)
        for figure in outputs[3 : 3 + len(CHART_IDS)]:
            figure.update_layout(template=template(theme))
        return outputs

    @app.callback(
        *(Output(chart_link_id(fmt), "href") for fmt in FORMATS),
        Input(CHART_PICKER, "value"),
        Input(ids.RANGE, "data"),
        State(ids.CLIENT, "data"),
        State(ids.LOCATION, "pathname"),
    )
    def update_chart_links(chart: str | None, selection: Any, client: dict | None, pathname: str | None) -> list[str]:
        clock = client_clock(client, runtime.broker_zone(page_login(pathname, runtime)))
        return chart_links(chart if chart in CHART_NAMES else CHART_NAMES[0], *range_bounds(selection), clock)

    @app.callback(
        *(Output(chart_id, "figure", allow_duplicate=True) for chart_id in CHART_IDS),
        Input(ids.THEME, "data"),
        prevent_initial_call=True,
    )
    def restyle(theme: str | None) -> tuple[Patch, ...]:
        return tuple(template_patch(theme) for _ in CHART_IDS)
