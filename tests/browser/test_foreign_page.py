"""A page on another origin, opened in the same headless Chromium, tries what a hostile site would.

Its script reads ``/account``, posts ``/mt5/disconnect`` (with ``fetch`` and with a plain form),
replaces ``/rules``, calls Dash's update route and opens ``/ws``, with credentials included. With
authentication off and on (the browser then holds the trader's credentials for the dashboard), the
page must read nothing and change nothing: the server refuses every write and the handshake, and
the browser keeps the answers of the reads from the page.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from typing import Any

import pytest

from layouts import ids
from services.ingest.sources.demo import DemoSource
from tests.helpers import wait_until

pytestmark = pytest.mark.browser
LOGIN = 5_000_001
USER, PASSWORD = "trader", "s3cret-Pw"

ATTACK = """<!doctype html><html><body>
<form id="form" method="post" action="{app}/mt5/disconnect" target="sink"><input name="x" value="1"></form>
<iframe name="sink" id="sink"></iframe>
<script>
const app = "{app}";
window.results = {{}};
const settle = (name, promise) => promise.then(
  (value) => {{ window.results[name] = value; }},
  (error) => {{ window.results[name] = "blocked: " + error.name; }});
const steps = [
  settle("read", fetch(app + "/account", {{credentials: "include"}}).then((r) => r.text())),
  settle("disconnect", fetch(app + "/mt5/disconnect", {{method: "POST", mode: "no-cors", credentials: "include"}})
    .then((r) => r.type)),
  settle("rules", fetch(app + "/rules", {{method: "PUT", credentials: "include",
    headers: {{"Content-Type": "text/plain"}}, body: "rules: []"}}).then((r) => r.status)),
  settle("dash", fetch(app + "/_dash-update-component", {{method: "POST", mode: "no-cors", credentials: "include",
    headers: {{"Content-Type": "text/plain"}}, body: "{{}}"}}).then((r) => r.type)),
  new Promise((resolve) => {{
    const socket = new WebSocket(app.replace("http", "ws") + "/ws");
    let frames = 0;
    socket.onmessage = () => {{ frames += 1; }};
    socket.onclose = () => {{ window.results.ws_frames = frames; resolve(); }};
  }}),
];
document.getElementById("form").submit();
Promise.all(steps).then(() => {{ window.results.done = true; }});
</script></body></html>"""


@pytest.fixture
def foreign_site() -> Iterator[Any]:
    """Serves the attack page from the other loopback name than the dashboard's: another origin, another site."""
    page = {"html": b""}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page["html"])

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def host(app_url: str) -> str:
        page["html"] = ATTACK.format(app=app_url).encode()
        other = "127.0.0.1" if "//localhost" in app_url else "localhost"
        return f"http://{other}:{server.server_port}/"

    yield host
    server.shutdown()
    server.server_close()


def record_answers(flask_app: Any) -> list[tuple[str, str, int, bool]]:
    """Each request the dashboard answers: method, path, status, and whether credentials came with it."""
    answered: list[tuple[str, str, int, bool]] = []

    @flask_app.after_request
    def note(response: Any) -> Any:
        from flask import request

        answered.append((request.method, request.path, response.status_code, request.authorization is not None))
        return response

    return answered


def ruleset(url: str, auth: bool) -> Any:
    """The rules in force and where they come from (not their live values, which move with the market)."""
    body = json.loads(get(f"{url}/rules", auth))
    return body["source"], body["ruleset"]


def basic() -> str:
    return "Basic " + b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def get(url: str, auth: bool) -> Any:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", basic())
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read()


@pytest.mark.parametrize("auth", [False, True], ids=["auth-none", "auth-basic"])
def test_a_page_on_another_origin_can_neither_read_nor_change(
    dash_duo: Any, make_app: Any, serve: Any, foreign_site: Any, auth: bool
) -> None:
    env = {"APP_AUTH": "basic", "APP_USERS": f"{USER}:{PASSWORD}"} if auth else {}
    app = make_app({**env, "POLL_INTERVAL_MS": "200"}, source=DemoSource(seed=31))
    answered = record_answers(app.server)
    app_url = serve(app.server).url
    runtime = app.server.extensions["mt5_runtime"]
    rules_before = ruleset(app_url, auth)
    if auth:  # the worst case: a browser that sends the trader's credentials with every request, foreign ones too
        dash_duo.driver.execute_cdp_cmd("Network.enable", {})
        dash_duo.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": basic()}})

    dash_duo.driver.get(foreign_site(app_url))
    results = wait_until(lambda: dash_duo.driver.execute_script("return window.results.done && window.results"), 20,
                         "the foreign page's attempts")  # fmt: skip
    assert results["read"].startswith("blocked"), "the browser keeps the dashboard's answer from the other page"
    assert results["ws_frames"] == 0, "no frame reaches a socket opened from another origin"
    assert results["rules"].startswith("blocked"), "a PUT needs a preflight, which the dashboard does not grant"
    wait_until(lambda: len([w for w in answered if w[0] in ("POST", "PUT")]) >= 3, 10, "the form post too")
    writes = [(method, path, status) for method, path, status, _ in answered if method in ("POST", "PUT")]
    assert sorted(writes) == [("POST", "/_dash-update-component", 403), ("POST", "/mt5/disconnect", 403),
                              ("POST", "/mt5/disconnect", 403)]  # fmt: skip
    handshakes = [status for method, path, status, _ in answered if path == "/ws"]
    assert handshakes == [403]
    if auth:
        assert all(signed for method, path, _, signed in answered if method in ("POST", "PUT")), (
            "the refusals came with the trader's credentials: auth alone would have let them through"
        )
    polls = runtime.streamer.status().polls
    wait_until(lambda: runtime.streamer.status().polls > polls, 10, "polling, still going")
    assert runtime.streamer.status().mt5 == "connected"
    assert ruleset(app_url, auth) == rules_before

    foreign_errors = dash_duo.get_logs()  # the foreign page's console: its refused requests, and nothing else
    refused = ("CORS", "403", "WebSocket", "net::ERR_FAILED", "frame-ancestors")
    assert all(any(sign in entry["message"] for sign in refused) for entry in foreign_errors), [
        e["message"] for e in foreign_errors
    ]
    dash_duo.driver.get(app_url)
    dash_duo.wait_for_contains_text(f"#{ids.link_badge('live')}", "connected", timeout=15)
    assert dash_duo.get_logs() == []
