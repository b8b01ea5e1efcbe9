"""Each answer says what is true: an unknown account's page is a 404 that says so, ``/ws`` without the upgrade is
a 426, and ``/livez`` answers health checkers that have no credentials while ``/health`` stays behind them."""

from __future__ import annotations

from typing import Any

import pytest

from services.ingest.sources.demo import DemoSource
from tests.unit.test_security import AUTH, basic

LOGIN = 5_000_001


@pytest.fixture
def client(make_app: Any) -> Any:
    app = make_app(source=DemoSource(seed=2), start=False)
    app.server.extensions["mt5_runtime"].streamer.step()
    return app.server.test_client()


def test_the_page_of_an_unknown_account_is_a_404_that_says_so(client: Any) -> None:
    response = client.get("/a/424242")
    assert response.status_code == 404 and response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "No account #424242 on this dashboard" in text and "Connecting" not in text
    assert f'<a href="/">#{LOGIN}</a>' in text, "it lists the accounts there are"
    assert client.get("/accounts/424242/account").status_code == 404
    assert client.get("/accounts/424242").status_code == 404
    assert client.get(f"/a/{LOGIN}").status_code == 200, "a known account's page is served"


def test_ws_without_the_upgrade_is_426_not_the_page(client: Any) -> None:
    response = client.get("/ws?batch_ms=5")
    assert response.status_code == 426
    assert response.headers["Upgrade"] == "websocket"
    assert "WebSocket" in response.get_json()["error"]


def test_livez_answers_without_credentials_and_tells_nothing(make_app: Any) -> None:
    app = make_app(AUTH, source=DemoSource(seed=2), start=False)
    client = app.server.test_client()
    assert client.get("/livez").status_code == 503, "the streamer does not run yet"
    app.server.extensions["mt5_runtime"].start()
    for host in ("127.0.0.1:8050", "app:8050"):  # a checker in a container calls the app by its service name
        response = client.get("/livez", headers={"Host": host})
        assert response.status_code == 200 and response.get_data(as_text=True) == "ok\n"
    assert client.head("/livez").status_code == 200
    assert client.get("/health").status_code == 401, "/health stays behind APP_AUTH"
    assert client.get("/health", headers={"Host": "app:8050", **basic("alice", "Wonder-land-9")}).status_code == 400
    assert client.get("/health", headers=basic("alice", "Wonder-land-9")).status_code in (200, 503)
