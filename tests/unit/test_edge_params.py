"""Edge values in query parameters (issue 14): the first and last dates a datetime holds, ±14:00 offsets,
integers of thousands of digits, NaN and infinities, account numbers too long for any account. Each one is
answered (times clamped to the range the app keeps) or refused with a 400 that names the parameter, never a 500;
and arbitrary text in every query parameter of every REST route is the same (property-based)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.params import EARLIEST_MS, LATEST_MS, BadParameter, parse_instant_ms, parse_int
from api.ws import account_option, query_options, view_option
from services.analytics.csv_export import TABLES
from services.ingest.sources.demo import DemoSource

NOW_S = 1_780_000_000.0
ACCOUNT_BLUEPRINTS = ("account", "analytics", "alerts")  # their routes answer under /accounts/<login> too
RANGE = ("from", "to")
# Every GET route of the REST API, by endpoint: the paths to ask and the query parameters it reads.
ROUTES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "api.index": (("/api",), ()),
    "api.health": (("/health",), ()),
    "api.connection_status": (("/connection-status",), ()),
    "api.mt5_status": (("/mt5/status",), ()),
    "accounts.accounts": (("/accounts",), ()),
    "accounts.one_account": (("/accounts/{login}",), ()),
    "accounts.unknown_account_route": (("/accounts/nothing",), ()),
    "account.account": (("/account",), ()),
    "account.account_cached": (("/account/cached",), ()),
    "account.account_replay": (("/account/at",), ("t",)),
    "account.positions": (("/positions",), ()),
    "account.orders": (("/orders",), ()),
    "account.deals": (("/deals",), RANGE),
    "analytics.stats": (("/stats",), (*RANGE, "periods")),
    "analytics.trades": (("/trades",), RANGE),
    "analytics.export_csv": (tuple(f"/export/{name}.csv" for name in TABLES), (*RANGE, "periods")),
    "analytics.export_chart": (("/export/chart/equity.html", "/export/chart/monthly.html"), RANGE),
    "analytics.export_report": (("/export/report.html",), RANGE),
    "analytics.unknown_export": (("/export/nothing",), ("name",)),  # the path names an export that is none
    "alerts.alerts": (("/alerts",), ("state", "rule", "since", "limit")),
    "alerts.rules": (("/rules",), ()),
}
EDGE_TIMES = (
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59+14:00",
    "2026-01-01T00:00:00+14:00",
    "1969-12-31T23:59:59.999Z",
)
ODD_NUMBERS = ("1" * 5000, "9" * 30, "-1", "0", "nan", "NaN", "inf", "-inf", "1e309", "1.5", "0x10", "١٢")


@pytest.fixture
def edge_app(make_app: Any) -> Any:
    """A demo account with an hour of history, polled once and archived (so ``/account/at`` can read)."""
    app = make_app(source=DemoSource(seed=5, clock=lambda: NOW_S, start_utc_s=NOW_S - 3600), start=False)
    runtime = app.server.extensions["mt5_runtime"]
    runtime.streamer.step()
    runtime.archive.start()
    runtime.archive.stop()
    return app


def login_of(app: Any) -> int:
    return app.server.extensions["mt5_runtime"].login()


def every_path(app: Any, by_account: bool | None = None) -> list[tuple[str, tuple[str, ...]]]:
    """Each route's paths, and each account route's under /accounts/<login> (only there with ``by_account``,
    only bare with False)."""
    login = login_of(app)
    paths = []
    for endpoint, (routes, params) in ROUTES.items():
        for route in routes:
            account_route = endpoint.split(".")[0] in ACCOUNT_BLUEPRINTS
            if not (by_account and account_route):
                paths.append((route.format(login=login), params))
            if account_route and by_account is not False:
                paths.append((f"/accounts/{login}{route}", params))
    return paths


def assert_answered(response: Any, params: tuple[str, ...], query: dict[str, str], baseline: int) -> None:
    """200 (or the route's own status without parameters), or a 4xx whose 400 names one of its parameters
    (one sent, or a required one missing)."""
    body = response.get_json(silent=True)
    assert response.status_code != 500, (query, body)
    if response.status_code == 400 and body.get("parameter") is not None:
        assert body["parameter"] in params and body["error"].startswith(f"{body['parameter']}: expected"), body
    elif response.status_code >= 500:
        assert response.status_code == baseline, (query, body)


def test_every_rest_get_route_is_in_the_table(edge_app: Any) -> None:
    """The property tests below cover a new route only once it is listed in ROUTES with its parameters."""
    endpoints = {
        rule.endpoint
        for rule in edge_app.server.url_map.iter_rules()
        if "GET" in rule.methods
        and rule.endpoint.partition(".")[0] in edge_app.server.blueprints
        and not rule.endpoint.startswith("_")  # Dash's assets, the /ws handshake
    }
    listed = set(ROUTES) | {f"{e.split('.')[0]}_by_account.{e.split('.')[1]}" for e in ROUTES}
    assert endpoints <= listed, endpoints - listed


def test_edge_times_are_answered_on_every_route_that_takes_a_time(edge_app: Any) -> None:
    """Every time parameter of a route at once (a clamped ``from`` equals the clamped ``to``): answered, or
    refused naming it (a ``t`` in the future). Every other value is asked under /accounts/<login>."""
    client = edge_app.server.test_client()
    for k, value in enumerate(EDGE_TIMES):
        for path, params in every_path(edge_app, by_account=k % 2 == 1):
            query = {name: value for name in ("from", "to", "t", "since") if name in params}
            if not query:
                continue
            response = client.get(path, query_string=query)
            body = response.get_json(silent=True)
            if response.status_code == 404:
                assert path.endswith("/account/at") and "nothing recorded" in body["error"], body
            elif response.status_code == 400:
                assert path.endswith("/account/at") and body["error"].startswith("t: expected a time not in the")
            else:
                assert response.status_code == 200, (path, query, body)


def test_edge_times_clamp_to_the_range_the_app_keeps() -> None:
    assert parse_instant_ms("from", "0001-01-01") == EARLIEST_MS
    assert parse_instant_ms("from", "0001-01-01T00:00:00+14:00") == EARLIEST_MS
    assert parse_instant_ms("to", "9999-12-31", end_of_day=True) == LATEST_MS
    assert parse_instant_ms("to", "9999-12-31T23:59:59-14:00") == LATEST_MS
    assert datetime.fromtimestamp(LATEST_MS / 1000, UTC) + timedelta(days=300) < datetime.max.replace(tzinfo=UTC)
    assert parse_instant_ms("t", "2026-01-01T00:00:00+14:00") == parse_instant_ms("t", "2025-12-31T10:00:00Z")


def test_odd_numbers_are_refused_naming_the_parameter(edge_app: Any) -> None:
    client = edge_app.server.test_client()
    for value in ODD_NUMBERS:
        for path, name in (("/stats", "periods"), ("/export/stats.csv", "periods"), ("/alerts", "limit")):
            response = client.get(path, query_string={name: value})
            assert response.status_code == 400, (path, value)
            body = response.get_json()
            assert body["parameter"] == name and body["error"].startswith(f"{name}: expected an integer from 1 to")


def test_a_number_with_leading_zeros_is_still_that_number() -> None:
    assert parse_int("limit", "000000000000000000000000050", 1, 1000, 100) == 50
    assert parse_int("limit", " ", 1, 1000, 100) == 100
    with pytest.raises(BadParameter, match=r"^batch_ms: expected an integer from 0 to 5000"):
        parse_int("batch_ms", "1" * 5000, 0, 5000, 0)


def test_account_numbers_of_any_length_are_a_json_404(edge_app: Any) -> None:
    client = edge_app.server.test_client()
    for digits in (19, 20, 30, 5000):
        for path in (f"/accounts/{'9' * digits}", f"/accounts/{'9' * digits}/stats", f"/accounts/{'9' * digits}/deals"):
            response = client.get(path)
            assert response.status_code == 404, path
            assert response.get_json()["status"] == 404


OFFSETS = st.sampled_from([None, UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=14))])
TIMES = st.one_of(
    st.datetimes(timezones=OFFSETS).map(datetime.isoformat),
    st.dates().map(str),
    st.sampled_from(EDGE_TIMES),
)
NUMBERS = st.one_of(
    st.integers().map(str), st.floats().map(str), st.integers(min_value=10**20).map(str), st.sampled_from(ODD_NUMBERS)
)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=50)
VALUES = st.one_of(TEXT, TIMES, NUMBERS, st.sampled_from(["ok", "warning", "breached", "margin_call", ""]))


@pytest.fixture
def baselines() -> dict[str, int]:
    """Each path's status without parameters, asked once for all the examples."""
    return {}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_query_on_any_rest_route_is_answered_or_names_the_parameter(
    edge_app: Any, baselines: dict[str, int], data: st.DataObject
) -> None:
    path, params = data.draw(st.sampled_from(every_path(edge_app)), label="route")
    query = data.draw(st.dictionaries(st.sampled_from((*params, "other")), VALUES, max_size=4), label="query")
    client = edge_app.server.test_client()
    if path not in baselines:
        baselines[path] = client.get(path).status_code
    assert_answered(client.get(path, query_string=query), params, query, baselines[path])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["batch_ms", "ack", "account", "view"]), VALUES, max_size=4))
def test_any_websocket_query_is_taken_or_names_the_parameter(args: dict[str, str]) -> None:
    """``/ws?batch_ms=&ack=&account=&view=``: a bad one is an error frame naming it (the socket stays open)."""
    for parse in (query_options, account_option, view_option):
        try:
            parse(args)
        except ValueError as exc:
            assert str(exc).split(":")[0] in args, str(exc)
