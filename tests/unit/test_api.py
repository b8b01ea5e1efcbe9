"""The REST API through Flask's test client, with the streamer stepped by hand."""

from __future__ import annotations

from typing import Any

import pytest

from services.core.secret import Secret
from services.ingest.sources.demo import DemoSource
from services.ingest.sources.mt5 import MT5Source
from tests.fakes.fake_mt5 import FakeMT5

PASSWORD = "Very$ecret-42"


class Clock:
    def __init__(self) -> None:
        self.now = 1_780_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def demo_app(make_app: Any) -> Any:
    clock = Clock()
    app = make_app(source=DemoSource(seed=5, clock=clock, start_utc_s=clock.now - 3 * 86_400), start=False)
    app.server.extensions["mt5_runtime"].streamer.step()
    return app


def test_api_index_lists_links(demo_app: Any) -> None:
    body = demo_app.server.test_client().get("/api").get_json()
    assert body["name"].startswith("MT5")
    assert "/health" in body["links"] and "/ws" in body["links"]


def test_health_reports_demo_and_embedded_redis(demo_app: Any) -> None:
    response = demo_app.server.test_client().get("/health")
    body = response.get_json()
    assert body["mt5"]["source"] == "demo" and body["mt5"]["demo"] is True
    assert body["redis"]["mode"] == "embedded" and body["redis"]["up"] is True
    assert body["redis"]["latency_ms"] is not None
    assert (body["redis"]["configured"], body["redis"]["persistence"]) == (True, "off"), "REDIS_URL=embedded"
    assert body["status"] == "down", "the streamer thread is not running in this test"
    assert response.status_code == 503


def test_account_positions_orders_come_from_the_streamer(demo_app: Any) -> None:
    client = demo_app.server.test_client()
    latest = demo_app.server.extensions["mt5_runtime"].streamer.latest()
    assert client.get("/account").get_json() == latest.account.to_dict()
    assert client.get("/account/cached").get_json() == latest.account.to_dict()
    assert len(client.get("/positions").get_json()) == len(latest.positions)
    assert client.get("/orders").get_json() == [o.to_dict() for o in latest.orders]


def test_deals_filter_by_iso_dates(demo_app: Any) -> None:
    client = demo_app.server.test_client()
    everything = client.get("/deals").get_json()
    assert everything["count"] == len(everything["deals"]) > 2
    first = everything["deals"][0]
    assert first["type"] == 2, "the account starts with a deposit"
    times = [d["time_utc_ms"] for d in everything["deals"]]
    assert times == sorted(times)
    middle = times[len(times) // 2]
    from datetime import UTC, datetime

    iso = datetime.fromtimestamp(middle / 1000, UTC).isoformat()
    later = client.get("/deals", query_string={"from": iso}).get_json()
    assert later["count"] == sum(1 for t in times if t >= middle)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "yesterday"}, "from: expected an ISO 8601"),
        ({"to": "2026-13-45"}, "to: expected an ISO 8601"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from: expected a time not after 'to'"),
        ({"from": "9" * 500}, "from: expected an ISO 8601"),
    ],
)
def test_bad_dates_are_400_with_a_clear_message(demo_app: Any, query: dict[str, str], message: str) -> None:
    response = demo_app.server.test_client().get("/deals", query_string=query)
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(message)


def test_no_data_yet_is_503(make_app: Any) -> None:
    app = make_app(source=DemoSource(seed=1), start=False)
    response = app.server.test_client().get("/account")
    assert response.status_code == 503
    assert "not answered" in response.get_json()["error"]


def test_mt5_source_account_is_exactly_account_info_and_password_never_leaks(make_app: Any) -> None:
    clock = Clock()
    fake = FakeMT5(login=4242, password=PASSWORD, server="Broker-Live", clock=clock)
    fake.add_balance(clock.now - 7200, 2500.0)
    fake.add_deal(clock.now - 60, "EURUSD", type=0, entry=0, volume=0.1, price=1.1, commission=-0.7)
    env = {"MT5_SOURCE": "mt5", "MT5_LOGIN": "4242", "MT5_PASSWORD": PASSWORD, "MT5_SERVER": "Broker-Live"}
    source = MT5Source(
        fake.module,
        login=4242,
        password=Secret(PASSWORD),
        server="Broker-Live",
        path=None,
        clock=clock,
    )
    app = make_app(env, source=source, start=False)
    runtime = app.server.extensions["mt5_runtime"]
    runtime.streamer.step()
    client = app.server.test_client()
    assert client.get("/account").get_json() == fake.module.account_info()._asdict()
    assert client.get("/deals").get_json()["count"] == 2
    fake.drop_link()
    runtime.streamer.step()
    status = client.get("/connection-status").get_json()
    assert status["connected"] is False and status["error_code"] == -10004
    bodies = [
        client.get(path).get_data(as_text=True)
        for path in ("/health", "/connection-status", "/mt5/status", "/account", "/api", "/deals")
    ]
    assert all(PASSWORD not in body for body in bodies)


def test_commands_answer_with_the_new_status(make_app: Any) -> None:
    app = make_app(source=DemoSource(seed=2))
    client = app.server.test_client()
    response = client.post("/mt5/disconnect")
    assert response.status_code == 200
    assert response.get_json()["status"]["mt5"] == "disconnected"
    assert client.get("/connection-status").get_json()["connected"] is False
    response = client.post("/reconnect")
    assert response.get_json()["status"]["mt5"] == "connected"
    assert client.post("/mt5/connect").get_json()["status"]["mt5"] == "connected"


def test_cors_only_for_configured_origins(make_app: Any) -> None:
    app = make_app({"CORS_ORIGINS": "http://localhost:3000"}, source=DemoSource(seed=2), start=False)
    client = app.server.test_client()
    allowed = client.get("/api", headers={"Origin": "http://localhost:3000"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    other = client.get("/api", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
