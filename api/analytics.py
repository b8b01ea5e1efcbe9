"""Statistics, rebuilt trades and exports: ``/stats``, ``/trades``, ``/export/<name>.csv``,
``/export/chart/<chart>.<png|svg|html>`` and ``/export/report.html``.

Errors share the REST API's JSON shape: 400 names the bad parameter (an unknown export, chart or
format included) and its allowed values, 503 means Redis is down (or the account is not known
yet), 501 that PNG/SVG export lacks kaleido or a browser, 504 that the browser took too long.
A CSV reads its first rows before answering, so a Redis failure still gets a 503 instead of a
cut-off 200.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import plotly.graph_objects as go
from flask import Blueprint, Response, jsonify, request

from api.params import BadParameter, parse_int, parse_range
from api.rest import account_login, account_routes, error, runtime
from layouts.analytics import CHART_NAMES, HISTORY_TITLES, analytics_figures, history_figures, report_page
from services.analytics import csv_export
from services.analytics.balance import whole_life
from services.analytics.charts_export import (
    FORMATS,
    MEDIA_TYPES,
    ImageExportError,
    ImageExportFailed,
    ImageExportTimeout,
    ImageExportUnavailable,
    figure_html,
    for_export,
    render_image,
    report_chunks,
)
from services.analytics.period import DEFAULT_PERIODS_PER_YEAR, Report, build_report
from services.core.models import Account
from services.core.timefmt import SERVER_PARAM, Clock, export_clock
from services.core.units import DAY_MS
from services.runtime import Runtime

MAX_PERIODS_PER_YEAR = 366
CHART_DEFAULT_TZ = "UTC"  # a chart or report file asked for without ``tz``: UTC, as a file has no browser zone
EXPORT_POINTS = 2000  # history charts in a file: about twice the image's width, plenty for the HTML zoom
IMAGE_ERROR_STATUS = {ImageExportUnavailable: 501, ImageExportFailed: 502, ImageExportTimeout: 504}
EXPORTS = (*(f"{name}.csv" for name in csv_export.TABLES), "report.html", "chart/<chart>.<png|svg|html>")

analytics = account_routes(Blueprint("analytics", __name__))


@analytics.errorhandler(ImageExportError)
def image_export_error(exc: ImageExportError) -> tuple[Response, int]:
    return error(IMAGE_ERROR_STATUS.get(type(exc), 500), str(exc))


def parse_periods(raw: str | None) -> int:
    """Return periods per year for annualising: about 260 trading days for forex, 365 for crypto."""
    return parse_int("periods", raw, 1, MAX_PERIODS_PER_YEAR, DEFAULT_PERIODS_PER_YEAR)


def parse_clock(rt: Runtime, login: int, default: str) -> Clock:
    """``tz``: the clock of the file's times (``server``, ``UTC`` or an IANA zone such as ``Europe/Berlin``);
    400 naming ``tz`` for anything else."""
    raw = request.args.get("tz")
    try:
        return export_clock(raw, rt.broker_zone(login), default)
    except ValueError:
        raise BadParameter("tz", f"{SERVER_PARAM}, UTC or an IANA time zone such as Europe/Berlin", raw or "") from None


def _login_or_503(rt: Runtime) -> tuple[int | None, Any]:
    login = account_login()
    if login is None:
        status = rt.streamer.status()
        return None, error(
            503, "no account yet: the MT5 source has not answered", state=status.mt5, reason=status.mt5_error
        )
    return login, None


def _report(
    rt: Runtime, login: int, start: int | None, end: int | None, periods: int, clock: Clock | None = None
) -> Report:
    """``clock``: of the hour and weekday breakdowns (the broker's server time without one)."""
    return build_report(
        rt.store,
        login,
        _account(rt),
        start_ms=start,
        end_ms=end,
        server_offset_s=rt.broker_zone(login),
        periods_per_year=periods,
        archive=rt.archive_reader,
        clock=clock,
    )


def _report_request(
    default_tz: str | None = None,
) -> tuple[Runtime, int | None, int | None, int | None, Report | None, Any]:
    """The range and periods of the request, and the report on them (or the 503 when there is no account yet);
    ``default_tz``: the report's breakdowns follow ``tz`` (none: the broker's server time)."""
    start, end = parse_range(request.args)
    periods = parse_periods(request.args.get("periods"))
    rt = runtime()
    login, failure = _login_or_503(rt)
    if failure:
        return rt, login, start, end, None, failure
    clock = None if default_tz is None else parse_clock(rt, login, default_tz)
    return rt, login, start, end, _report(rt, login, start, end, periods, clock), None


@analytics.get("/stats")
def stats() -> Any:
    _, _, _, _, report, failure = _report_request()
    return failure or jsonify(report.stats)


@analytics.get("/trades")
def trades() -> Any:
    start, end = parse_range(request.args)
    rt = runtime()
    login, failure = _login_or_503(rt)
    if failure:
        return failure
    found = [t.to_dict() for t in csv_export.iter_trades(rt.store, login, start, end, _digits(rt))]
    return jsonify({"account": login, "from": start, "to": end, "count": len(found), "trades": found})


def _digits(rt: Runtime) -> int:
    account = _account(rt)
    return 2 if account is None else account.currency_digits


def _range_label(ms: int | None, open_end: str, end_of_day: bool) -> str:
    """A file-name-safe time: a bare date when the bound is a whole day, else date and time (UTC)."""
    if ms is None:
        return open_end
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    whole_day = (ms + (1 if end_of_day else 0)) % DAY_MS == 0
    return moment.strftime("%Y-%m-%d" if whole_day else "%Y-%m-%dT%H%M%SZ")


def export_filename(
    login: int, name: str, start: int | None, end: int | None, ext: str = "csv", clock: Clock | None = None
) -> str:
    """The range in UTC; ``clock``: the zone of the times inside, when it is not the file's usual one."""
    zone = "" if clock is None else "-" + clock.param.replace("/", "_")
    return f"mt5-{login}-{name}-{_range_label(start, 'start', False)}_{_range_label(end, 'now', True)}{zone}.{ext}"


def _attachment(body: str | bytes | Iterable[str], media_type: str, filename: str) -> Response:
    response = Response(body)
    response.headers["Content-Type"] = media_type
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _one_of(name: str, allowed: Iterable[str], value: str) -> BadParameter:
    return BadParameter(name, f"one of {', '.join(allowed)}", value[:40])


@analytics.get("/export/<name>.csv")
def export_csv(name: str) -> Any:
    if name not in csv_export.TABLES:
        raise _one_of("name", csv_export.TABLES, name)
    start, end = parse_range(request.args)
    periods = parse_periods(request.args.get("periods")) if name == "stats" else DEFAULT_PERIODS_PER_YEAR
    rt = runtime()
    login, failure = _login_or_503(rt)
    if failure:
        return failure
    clock = parse_clock(rt, login, SERVER_PARAM)
    chunks = _table(rt, login, name, start, end, periods, clock)
    first = next(chunks)  # the first rows come from Redis now, while an error can still be a 503
    filename = export_filename(login, name, start, end, clock=None if clock.param == SERVER_PARAM else clock)
    return _attachment(chain([first], chunks), "text/csv; charset=utf-8", filename)


def _table(
    rt: Runtime, login: int, name: str, start: int | None, end: int | None, periods: int, clock: Clock
) -> Iterator[str]:
    latest = rt.latest_snapshot(login)
    broker = rt.broker_zone(login)
    if name == "deals":
        return csv_export.deals_csv(rt.store, login, start, end, clock)
    if name == "trades":
        return csv_export.trades_csv(rt.store, login, start, end, _digits(rt), clock)
    if name == "equity":
        return csv_export.equity_csv(rt.store, login, start, end, broker, rt.archive_reader, clock)
    if name == "positions":
        return csv_export.positions_csv(() if latest is None else latest.positions, start, end, clock)
    if name == "orders":
        return csv_export.orders_csv(() if latest is None else latest.orders, start, end, clock, broker)
    return csv_export.stats_csv(_report(rt, login, start, end, periods).stats)


def _account(rt: Runtime) -> Account | None:
    latest = rt.latest_snapshot(account_login())
    return None if latest is None else latest.account


def _history_figures(rt: Runtime, login: int, start: int | None, end: int | None, clock: Clock) -> dict[str, go.Figure]:
    account = _account(rt)
    part = whole_life(rt.store, login, start, end, EXPORT_POINTS, archive=rt.archive_reader)
    currency, digits = ("", 2) if account is None else (account.currency, account.currency_digits)
    return history_figures(part, rt.broker_zone(login), clock, currency, digits)


@analytics.get("/export/chart/<chart>.<fmt>")
def export_chart(chart: str, fmt: str) -> Any:
    """One chart of the page, drawn for the range; PNG and SVG go through kaleido and a headless browser."""
    if chart not in CHART_NAMES:
        raise _one_of("chart", CHART_NAMES, chart)
    if fmt not in FORMATS:
        raise _one_of("format", FORMATS, fmt)
    start, end = parse_range(request.args)
    rt = runtime()
    login, failure = _login_or_503(rt)
    if failure:
        return failure
    clock = parse_clock(rt, login, CHART_DEFAULT_TZ)
    if chart in HISTORY_TITLES:
        figure = _history_figures(rt, login, start, end, clock)[chart]
    else:
        figure = analytics_figures(_report(rt, login, start, end, DEFAULT_PERIODS_PER_YEAR, clock))[chart]
    figure = for_export(figure)
    body = figure_html(figure) if fmt == "html" else render_image(figure, fmt)
    return _attachment(body, MEDIA_TYPES[fmt], export_filename(login, f"chart-{chart}", start, end, fmt))


@analytics.get("/export/report.html")
def export_report() -> Any:
    """Summary, statistics, balance check and every chart in one page that opens offline."""
    rt, login, start, end, report, failure = _report_request(CHART_DEFAULT_TZ)
    if failure:
        return failure
    clock = parse_clock(rt, login, CHART_DEFAULT_TZ)
    history = _history_figures(rt, login, start, end, clock)
    page = report_page(report, _account(rt), history, int(time.time() * 1000), clock)
    return _attachment(report_chunks(page), MEDIA_TYPES["html"], export_filename(login, "report", start, end, "html"))


@analytics.get("/export/<path:name>")
def unknown_export(name: str) -> Any:
    raise _one_of("name", EXPORTS, name)
