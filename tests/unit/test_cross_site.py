"""Another website can neither read nor change anything (issue 14): the Host allow-list against DNS
rebinding, and cross-site writes refused from the headers a browser sets and a page cannot forge."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from services.ingest.sources.demo import DemoSource
from tests.helpers import wait_until

EVIL = "http://evil.example:8062"
WRITES = (
    ("POST", "/mt5/disconnect", None),
    ("PUT", "/rules", '{"rules": [{"id": "pos", "kind": "exposure", "metric": "positions", "limit": 5}]}'),
    ("DELETE", "/rules", None),
    ("POST", "/_dash-update-component", "{}"),
)


def app_with(make_app: Any, **env: str) -> Any:
    app = make_app(env or None, source=DemoSource(seed=5), start=False)
    app.server.extensions["mt5_runtime"].streamer.step()
    return app


def auth(user: str = "ana", password: str = "s3cret-pass") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("basic", [False, True])
def test_a_rebinding_host_is_refused_on_every_route(make_app: Any, basic: bool) -> None:
    env = {"APP_AUTH": "basic", "APP_USERS": "ana:s3cret-pass"} if basic else {}
    client = app_with(make_app, **env).server.test_client()
    headers = auth() if basic else {}
    for path in ("/", "/account", "/health", "/ws", "/export/deals.csv"):
        response = client.get(path, headers={**headers, "Host": "evil.example:8062"})
        assert response.status_code == 400, path
        assert "ALLOWED_HOSTS" in response.get_json()["error"]
    response = client.post("/mt5/disconnect", headers={**headers, "Host": "evil.example"})
    assert response.status_code == 400
    for host in ("localhost:8050", "127.0.0.1:8050", "[::1]:8050", "app.localhost"):
        assert client.get("/account", headers={**headers, "Host": host}).status_code == 200, host


def test_allowed_hosts_and_app_host_are_served(make_app: Any) -> None:
    client = app_with(make_app, ALLOWED_HOSTS="dashboard.lan", APP_HOST="10.0.0.5").server.test_client()
    for host in ("dashboard.lan:8050", "DASHBOARD.LAN", "10.0.0.5:8050"):
        assert client.get("/account", headers={"Host": host}).status_code == 200, host
    assert client.get("/account", headers={"Host": "other.lan"}).status_code == 400


@pytest.mark.parametrize("basic", [False, True])
@pytest.mark.parametrize(
    "browser",
    [
        {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},  # a form post or fetch from another site
        {"Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site"},  # another port is another origin
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},  # a sandboxed frame or a file:// page
        {"Sec-Fetch-Site": "cross-site"},  # no Origin, but the browser still says where it comes from
    ],
)
def test_cross_site_writes_are_refused_and_change_nothing(make_app: Any, basic: bool, browser: dict[str, str]) -> None:
    env = {"APP_AUTH": "basic", "APP_USERS": "ana:s3cret-pass"} if basic else {}
    app = app_with(make_app, **env)
    client = app.server.test_client()
    headers = {**(auth() if basic else {}), **browser}
    for method, path, body in WRITES:
        response = client.open(path, method=method, data=body, headers=headers, content_type="application/json")
        assert response.status_code == 403, (method, path)
        assert "cross-site" in response.get_json()["error"]
    assert app.server.extensions["mt5_runtime"].streamer.status().mt5 == "connected", "polling was not stopped"


def test_same_origin_pages_and_scripts_still_write(make_app: Any) -> None:
    app = make_app({"CORS_ORIGINS": "http://localhost:3000"}, source=DemoSource(seed=5))
    runtime = app.server.extensions["mt5_runtime"]
    wait_until(lambda: runtime.archive.opened and runtime.login(), 20, "polling, and the archive open")
    client = app.server.test_client()
    body = '{"rules": [{"id": "pos", "kind": "exposure", "metric": "positions", "limit": 5}]}'
    same = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert client.put("/rules", data=body, headers=same, content_type="application/json").status_code == 200
    listed = {"Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site"}
    assert client.delete("/rules", headers=listed).status_code == 200, "an origin in CORS_ORIGINS may"
    assert client.put("/rules", data=body, content_type="application/json").status_code == 200, "curl sends neither"
    typed = {"Sec-Fetch-Site": "none"}  # typed into the address bar, a bookmark
    assert client.get("/account", headers=typed).status_code == 200
