"""CORS with authentication on (issue 14): a browser's preflight carries no credentials, so one from an origin
in CORS_ORIGINS to a JSON API route is answered without them; anything else still needs them. The methods and
headers allowed are the ones the README states."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest

from api.rest import CORS_HEADERS, CORS_METHODS
from services.ingest.sources.demo import DemoSource

ORIGIN = "http://localhost:3000"
NOW_S = 1_780_000_000.0
README = Path(__file__).resolve().parents[2] / "README.md"


def preflight(method: str = "GET", origin: str = ORIGIN, headers: str = "authorization") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}


@pytest.fixture
def guarded(make_app: Any) -> Any:
    env = {"APP_AUTH": "basic", "APP_USERS": "ana:s3cret-pass", "CORS_ORIGINS": ORIGIN}
    app = make_app(env, source=DemoSource(seed=5, clock=lambda: NOW_S, start_utc_s=NOW_S - 3600), start=False)
    app.server.extensions["mt5_runtime"].streamer.step()
    return app


def test_a_preflight_from_a_listed_origin_is_answered_without_credentials(guarded: Any) -> None:
    client = guarded.server.test_client()
    login = guarded.server.extensions["mt5_runtime"].login()
    routes = [("GET", "/account"), ("GET", f"/accounts/{login}/stats"), ("GET", "/export/deals.csv"),
              ("GET", "/accounts"), ("POST", "/mt5/connect"), ("POST", "/alerts/1-x/ack")]  # fmt: skip
    for method, path in routes:
        response = client.options(path, headers=preflight(method))
        assert response.status_code == 200, path
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert response.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
        assert response.headers["Access-Control-Allow-Headers"] == "Content-Type, Authorization"
        assert response.get_data() == b"", "a preflight reads nothing"
    token = base64.b64encode(b"ana:s3cret-pass").decode()
    actual = client.get("/account", headers={"Origin": ORIGIN, "Authorization": f"Basic {token}"})
    assert actual.status_code == 200 and actual.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert client.get("/account", headers={"Origin": ORIGIN}).status_code == 401, "the request itself needs them"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/account", preflight(origin="http://evil.example")),  # an origin not listed
        ("/account", {"Origin": ORIGIN}),  # OPTIONS, but no preflight
        ("/", preflight()),  # the page
        ("/_dash-update-component", preflight("POST")),  # Dash's routes
        ("/_dash-layout", preflight()),
        ("/ws", preflight()),
        ("/no/such/route", preflight()),
    ],
)
def test_other_options_requests_still_need_credentials(guarded: Any, path: str, headers: dict[str, str]) -> None:
    response = guarded.server.test_client().options(path, headers=headers)
    assert response.status_code == 401, path


def test_the_allowed_methods_and_headers_are_the_ones_the_readme_states(make_app: Any) -> None:
    readme = README.read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `CORS_ORIGINS`"))
    assert f"`Access-Control-Allow-Methods: {CORS_METHODS}`" in row
    assert f"`Access-Control-Allow-Headers: {CORS_HEADERS['none']}`" in row
    assert re.search(r"`Authorization`[^|]*`APP_AUTH=basic`", row)
    app = make_app({"CORS_ORIGINS": ORIGIN}, source=DemoSource(seed=5), start=False)
    response = app.server.test_client().options("/deals", headers=preflight(headers="content-type"))
    assert response.headers["Access-Control-Allow-Methods"] == CORS_METHODS == "GET, POST, OPTIONS"
    assert response.headers["Access-Control-Allow-Headers"] == "Content-Type"
