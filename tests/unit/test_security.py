"""Authentication on every route, the WebSocket Origin allow-list, and response headers."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import websocket

from services.core.settings import SettingsError, load_settings
from services.ingest.sources.demo import DemoSource

AUTH = {"APP_AUTH": "basic", "APP_USERS": "alice:Wonder-land-9,bob:builder"}
ROUTES = ("/", "/_dash-layout", "/_dash-dependencies", "/api", "/health", "/account", "/deals", "/stats",
          "/export/deals.csv", "/alerts", "/rules", "/assets/style.css", "/ws")  # fmt: skip


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def guarded(make_app: Any) -> Any:
    app = make_app(AUTH, source=DemoSource(seed=2), start=False)
    app.server.extensions["mt5_runtime"].streamer.step()
    return app


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_refuses_a_request_without_credentials(guarded: Any, path: str) -> None:
    response = guarded.server.test_client().get(path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize("credentials", [("alice", "wrong"), ("mallory", "Wonder-land-9"), ("alice", "")])
def test_wrong_credentials_are_refused(guarded: Any, credentials: tuple[str, str]) -> None:
    assert guarded.server.test_client().get("/api", headers=basic(*credentials)).status_code == 401


@pytest.mark.parametrize("path", ("/", "/api", "/health", "/account", "/assets/style.css", "/_dash-layout"))
def test_every_user_gets_in(guarded: Any, path: str) -> None:
    client = guarded.server.test_client()
    assert client.get(path, headers=basic("alice", "Wonder-land-9")).status_code in (200, 503)
    assert client.get(path, headers=basic("bob", "builder")).status_code in (200, 503)


def test_security_headers_on_every_response(make_app: Any) -> None:
    client = make_app(source=DemoSource(seed=2), start=False).server.test_client()
    for path in ("/", "/api", "/assets/style.css"):
        headers = client.get(path).headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert client.get("/api").headers["Cache-Control"] == "no-store"


def test_user_settings_are_checked_and_never_echoed() -> None:
    with pytest.raises(SettingsError, match=r"^APP_USERS: expected at least one"):
        load_settings({"APP_AUTH": "basic"}, dotenv_path=None)
    with pytest.raises(SettingsError) as caught:
        load_settings({"APP_AUTH": "basic", "APP_USERS": "alice=hunter2"}, dotenv_path=None)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(SettingsError, match=r"^APP_AUTH: expected one of none\|basic"):
        load_settings({"APP_AUTH": "oauth"}, dotenv_path=None)
    settings = load_settings(AUTH, dotenv_path=None)
    assert "Wonder-land-9" not in repr(settings) and "Wonder-land-9" not in str(settings.public())


@pytest.fixture
def ws_server(make_app: Any, serve: Any) -> Any:
    app = make_app({"CORS_ORIGINS": "http://trusted.example:3000"}, source=DemoSource(seed=3))
    return serve(app.server)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),
        ("same", True),
        ("http://trusted.example:3000", True),
        ("http://evil.example", False),
        ("http://127.0.0.1.evil.example", False),
    ],
)
def test_websocket_origin_allow_list(ws_server: Any, origin: str | None, allowed: bool) -> None:
    host = ws_server.url.removeprefix("http://")
    header = {"same": ws_server.url, None: None}.get(origin, origin)
    if allowed:
        ws = websocket.create_connection(ws_server.ws_url, timeout=5, origin=header, suppress_origin=header is None)
        ws.close()
        return
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        websocket.create_connection(ws_server.ws_url, timeout=5, origin=header, host=host)
    assert caught.value.status_code == 403
