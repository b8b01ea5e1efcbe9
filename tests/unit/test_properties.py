"""Bad input never hurts: property-based tests of every parser that takes outside data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.params import BadParameter, parse_instant_ms, parse_range
from api.ws import parse_frame, query_options
from services.analytics.deals_query import BadQuery, page_of_deals
from services.core.models import Deal, MalformedRecord
from services.core.protocol import CLIENT_KINDS, Message, event
from services.core.settings import SettingsError, load_settings


@pytest.fixture
def page_view(make_app: Any) -> Any:
    """The dashboard's view of a demo account, as the fan-out feeds it."""
    from services.ingest.sources.demo import DemoSource
    from views.page import PageKey, PageRenderer

    app = make_app(source=DemoSource(seed=8), start=False)
    runtime = app.server.extensions["mt5_runtime"]
    runtime.streamer.step()
    return PageRenderer(runtime, app.server.extensions["mt5_risk"].alerts, PageKey(None, None, "UTC", False))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
SETTING_NAMES = ("MT5_SOURCE", "MT5_LOGIN", "POLL_INTERVAL_MS", "HEARTBEAT_S", "REDIS_URL", "REDIS_PORT", "APP_PORT",
                 "APP_HOST", "APP_DEBUG", "LOG_LEVEL", "CORS_ORIGINS", "HISTORY_MAX_POINTS", "APP_AUTH", "APP_USERS",
                 "REDIS_PREFIX", "MT5_TIMEOUT_MS")  # fmt: skip


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300), JSON.map(json.dumps)))
def test_any_websocket_frame_gets_a_message_or_an_error_frame(frame: Any) -> None:
    message, error = parse_frame(frame)
    assert (message is None) != (error is None)
    if error is not None:
        assert json.loads(error)["type"] == "error"
    else:
        assert message["type"] in CLIENT_KINDS


@given(st.dictionaries(st.sampled_from(["batch_ms", "ack", "other"]), st.text(max_size=12), max_size=3))
def test_websocket_query_options_are_valid_or_refused(args: dict[str, str]) -> None:
    try:
        interval, ack = query_options(args)
    except ValueError as exc:
        assert str(exc).startswith(("batch_ms:", "ack:"))
    else:
        assert 0 <= interval <= 5 and isinstance(ack, bool)


@given(st.text(max_size=60), st.text(max_size=60))
def test_date_parameters_parse_or_name_the_parameter(start: str, end: str) -> None:
    try:
        low, high = parse_range({"from": start, "to": end})
    except BadParameter as exc:
        assert exc.name in ("from", "to")
    else:
        assert low is None or high is None or low <= high


@given(st.dates().map(str), st.booleans())
def test_every_calendar_date_parses(day: str, end_of_day: bool) -> None:
    ms = parse_instant_ms("from", day, end_of_day=end_of_day)
    assert isinstance(ms, int)


@settings(max_examples=150)
@given(st.dictionaries(st.sampled_from(SETTING_NAMES), st.text(max_size=40), max_size=4))
def test_settings_load_or_name_the_bad_variable(env: dict[str, str]) -> None:
    try:
        loaded = load_settings(env, dotenv_path=None)
    except SettingsError as exc:
        assert exc.variable in SETTING_NAMES
        assert str(exc).startswith(f"{exc.variable}: expected")
    else:
        assert loaded.poll_interval_ms >= 10 and 1 <= loaded.app_port <= 65535


@given(JSON)
def test_published_messages_of_any_shape_are_parsed_once_or_left_as_text(payload: Any) -> None:
    message = Message.of_text(json.dumps(payload), 7)
    assert message.kind is None or (isinstance(payload, dict) and message.kind == payload["type"])
    assert isinstance(message.ts, int) and message.account == 7


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["account", "positions", "orders", "deals", "status", "heartbeat", "alert", "accounts"]), JSON)
def test_a_page_view_renders_events_of_any_shape_or_leaves_them(page_view: Any, kind: str, data: Any) -> None:
    render = page_view.event(Message.of_event(event(kind, None, 1, data)))
    assert render is None or isinstance(render.text(), str)


@given(st.dictionaries(st.sampled_from(["startRow", "endRow", "sortModel", "filterModel"]), JSON, max_size=4))
def test_deal_grid_requests_page_or_are_refused(request: dict[str, Any]) -> None:
    deals = [Deal.from_dict(dict(DEAL, ticket=i, time_msc=i, time_utc_ms=i)) for i in range(5)]
    try:
        page = page_of_deals(deals, request)
    except (BadQuery, TypeError, ValueError) as exc:
        assert isinstance(exc, BadQuery), f"{type(exc).__name__}: {exc}"
    else:
        assert page.total <= 5 and len(page.rows) <= 5


@given(st.dictionaries(st.sampled_from(list(Deal.mt5_fields())), JSON, max_size=18))
def test_malformed_mt5_records_raise_one_clear_error(fields: dict[str, Any]) -> None:
    try:
        Deal.from_mt5({**DEAL, **fields}, 7200)
    except MalformedRecord as exc:
        assert str(exc).startswith("deal: field")


DEAL = {
    "ticket": 1, "order": 1, "time": 1, "time_msc": 1000, "type": 0, "entry": 0, "magic": 0, "position_id": 1,
    "reason": 0, "volume": 0.1, "price": 1.1, "commission": 0.0, "swap": 0.0, "profit": 0.0, "fee": 0.0,
    "symbol": "EURUSD", "comment": "", "external_id": "", "time_utc_ms": 1000,
}  # fmt: skip


QUERY_ROUTES = ("/deals", "/stats", "/trades", "/alerts", "/export/deals.csv", "/export/stats.csv",
                "/export/chart/equity.html", "/accounts", "/health")  # fmt: skip
PARAMS = ("from", "to", "periods", "limit", "state", "rule", "since")


@pytest.fixture(scope="module")
def api_client() -> Iterator[Any]:
    from app import create_app
    from services.ingest.sources.demo import DemoSource
    from services.runtime import build_runtime

    settings = load_settings({"REDIS_URL": "embedded"}, dotenv_path=None)
    app = create_app(settings, build_runtime(settings, source=DemoSource(seed=4)), start=False)
    app.server.extensions["mt5_runtime"].streamer.step()
    yield app.server.test_client()
    app.server.extensions["mt5_runtime"].stop()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(QUERY_ROUTES), st.dictionaries(st.sampled_from(PARAMS), st.text(max_size=30), max_size=3))
def test_query_parameters_of_any_kind_get_an_answer_never_a_crash(api_client: Any, route: str, params: dict) -> None:
    response = api_client.get(route, query_string=params)
    assert response.status_code in (200, 400, 404, 503), (route, params, response.status_code)
    if response.status_code == 400:
        assert "error" in response.get_json()
