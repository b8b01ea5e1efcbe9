"""The demo account driven into a drawdown: one alert reaches /ws, the webhook and /alerts; ack and rule edits."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import websocket

from services.ingest.sources.demo import DemoSource
from services.risk.rules import RuleError
from tests.conftest import RedisServer
from tests.helpers import after_hello, wait_until

pytestmark = pytest.mark.integration

RULES = """\
name: Integration rules
rules:
  - id: drawdown
    kind: drawdown
    limit: 100
    unit: money
  - id: margin_call
    kind: margin_level
"""


class Hook:
    """A local HTTP server standing in for the alert webhook; answers every POST with 204."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with hook.lock:
                    hook.requests.append(
                        {
                            "path": self.path,
                            "type": self.headers["Content-Type"],
                            "body": json.loads(body),
                            "key": self.headers["Idempotency-Key"],
                        }
                    )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                """Keep the test output quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [request["body"] for request in self.requests]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@dataclass
class Live:
    app: Any
    client: Any
    source: DemoSource
    hook: Hook
    ws_url: str

    @property
    def runtime(self) -> Any:
        return self.app.server.extensions["mt5_runtime"]

    def drawdown_row(self) -> dict[str, Any]:
        body = self.client.get("/rules").get_json()
        return next(row for row in body["status"] if row["id"] == "drawdown")

    def shock_against_positions(self, pct: float) -> None:
        """Move every held symbol against its positions (the demo trader never hedges a symbol)."""
        for position in {p.symbol: p for p in self.runtime.streamer.latest().positions}.values():
            self.source.shock(position.symbol, -pct if position.type == 0 else pct)


@pytest.fixture
def live(
    make_app: Any, serve: Any, redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Live]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    hook = Hook()
    source = DemoSource(seed=11)
    env = {
        "REDIS_URL": redis_server.url,
        "POLL_INTERVAL_MS": "100",
        "RULES_FILE": str(rules),
        "ALERT_WEBHOOK_URL": hook.url,
    }
    app = make_app(env, source=source)
    risk = app.server.extensions["mt5_risk"]
    server = serve(app.server)
    state = Live(app, app.server.test_client(), source, hook, server.ws_url)
    wait_until(lambda: state.client.get("/rules").get_json()["status"], 10, "the rules are evaluated")
    try:
        yield state
    finally:
        risk.stop()
        hook.stop()


def receive_alert(ws: websocket.WebSocket, rule: str, state: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ws.settimeout(max(0.05, deadline - time.monotonic()))
        message = json.loads(ws.recv())
        if message["type"] == "alert" and (message["data"]["rule"], message["data"]["state"]) == (rule, state):
            return message
    raise AssertionError(f"no {rule} {state} alert on /ws within {timeout} s")


def test_a_drawdown_raises_one_alert_on_ws_webhook_and_alerts(live: Live) -> None:
    ws = websocket.create_connection(live.ws_url, timeout=5)
    try:
        assert after_hello(ws)["type"] == "snapshot"
        before = live.drawdown_row()
        assert before["state"] == "ok" and before["limit"] == 100 and before["unit"] == "USD"
        live.shock_against_positions(0.2)
        shrinking = wait_until(
            lambda: (row := live.drawdown_row())["distance"] < before["distance"] and row, 5, "the distance shrinks"
        )
        assert shrinking["used"] > before["used"]
        for _ in range(20):
            if live.drawdown_row()["state"] == "breached":
                break
            live.shock_against_positions(1.0)
            time.sleep(0.3)
        alert = receive_alert(ws, "drawdown", "breached")
    finally:
        ws.close()
    data = alert["data"]
    assert alert["account"] == 5_000_001 and data["value"] >= 100 and data["unit"] == "USD"
    assert data["message"].startswith("Drawdown from peak breached: ")

    delivered = wait_until(
        lambda: [b for b in live.hook.bodies() if b["data"]["id"] == data["id"]], 10, "the webhook got the alert"
    )
    assert delivered == [alert], "the webhook gets the same JSON as /ws, once"
    assert live.hook.requests[0]["type"] == "application/json"
    assert live.hook.requests[0]["path"] == "/hooks/secret-token"
    keys = [request["key"] for request in live.hook.requests if request["body"]["data"]["id"] == data["id"]]
    assert keys == [f"5000001-{data['id']}"], "a stable id to de-duplicate a redelivery"

    listed = live.client.get("/alerts", query_string={"rule": "drawdown", "state": "breached"}).get_json()
    assert listed["count"] == 1 and listed["alerts"][0]["id"] == data["id"]
    assert listed["alerts"][0]["acked_ms"] is None
    assert live.drawdown_row()["state"] == "breached"

    acked = live.client.post(f"/alerts/{data['id']}/ack")
    assert acked.status_code == 200 and acked.get_json()["acked_ms"] > 0
    again = live.client.get("/alerts", query_string={"rule": "drawdown", "state": "breached"}).get_json()
    assert again["alerts"][0]["acked_ms"] == acked.get_json()["acked_ms"]
    assert live.client.post("/alerts/123-nope/ack").status_code == 404
    assert live.client.post("/alerts/not an id/ack").status_code == 404


def test_alerts_query_errors_name_the_parameter(live: Live) -> None:
    for query, parameter in (
        ({"state": "bad"}, "state"),
        ({"rule": "No Such"}, "rule"),
        ({"since": "yesterday"}, "since"),
        ({"limit": "0"}, "limit"),
    ):
        response = live.client.get("/alerts", query_string=query)
        assert response.status_code == 400 and response.get_json()["parameter"] == parameter


def test_rules_are_edited_validated_persisted_and_reverted(live: Live) -> None:
    body = live.client.get("/rules").get_json()
    assert body["source"] == "file" and body["rules_file"].endswith("rules.yaml")
    assert [rule["id"] for rule in body["ruleset"]["rules"]] == ["drawdown", "margin_call"]

    bad = live.client.put("/rules", data='{"rules": [\n  {"kind": "daily_loss", "limit": 5, "reset": "25:00"}\n]}')
    assert bad.status_code == 400
    assert bad.get_json()["field"] == "rules[0].reset" and bad.get_json()["line"] == 2

    yaml_doc = "rules:\n  - kind: exposure\n    metric: positions\n    limit: 50\n"
    saved = live.client.put("/rules", data=yaml_doc, content_type="application/yaml")
    assert saved.status_code == 200 and saved.get_json()["source"] == "api"
    assert live.client.get("/rules").get_json()["ruleset"]["rules"][0]["id"] == "exposure"
    archived = live.runtime.archive_reader.saved_rules(5_000_001)
    assert (archived.origin, json.loads(archived.ruleset)["rules"][0]["kind"]) == ("api", "exposure"), (
        "on disk when PUT answers, so it survives any restart"
    )
    stored = wait_until(lambda: live.runtime.redis.client.get("mt5:5000001:alerts:rules"), 5, "Redis's copy")
    assert json.loads(stored)["ruleset"]["rules"][0]["kind"] == "exposure", "in Redis for other processes"
    wait_until(lambda: live.client.get("/rules").get_json()["status"][0]["id"] == "exposure", 5, "applied live")

    reverted = live.client.delete("/rules")
    assert reverted.status_code == 200 and reverted.get_json()["source"] == "file"
    assert live.runtime.archive_reader.saved_rules(5_000_001).ruleset is None, "the reset is recorded"
    assert live.client.put("/rules", data="").status_code == 400


def test_a_bad_rules_file_stops_the_app_with_line_and_field(
    make_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("limit: 100", "limit: -100"), encoding="utf-8")
    with pytest.raises(RuleError, match=r"^RULES_FILE: .*rules\.yaml, line 5: rules\[0\]\.limit: expected a number"):
        make_app({"RULES_FILE": str(rules)}, source=DemoSource(seed=3), start=False)
