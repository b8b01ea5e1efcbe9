"""``/ws`` with a real WebSocket client against the app served on a free port (embedded Redis)."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import pytest
import websocket

from api.outbox import Outbox, RenderOutbox
from layouts import ids
from services.core.protocol import PROTOCOL_VERSION
from services.ingest.sources.demo import DemoSource
from services.live.fanout import ClientQueue
from services.live.render import Render
from services.storage.store import Keys
from tests.helpers import get_json, wait_until

LOGIN = 5_000_001


def receive(ws: websocket.WebSocket, kinds: set[str], timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ws.settimeout(max(0.05, deadline - time.monotonic()))
        message = json.loads(ws.recv())
        if message["type"] in kinds:
            return message
    raise AssertionError(f"no {kinds} message within {timeout} s")


@pytest.fixture
def live(make_app: Any, serve: Any) -> Any:
    app = make_app({"POLL_INTERVAL_MS": "100", "HEARTBEAT_S": "1"}, source=DemoSource(seed=9))
    runtime = app.server.extensions["mt5_runtime"]
    deadline = time.monotonic() + 5
    while runtime.streamer.latest() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return serve(app.server), runtime


def test_snapshot_first_then_live_updates(live: Any) -> None:
    server, _ = live
    ws = websocket.create_connection(server.ws_url, timeout=5)
    try:
        assert json.loads(ws.recv())["data"] == {"protocol": PROTOCOL_VERSION}, "hello first, with the version"
        first = json.loads(ws.recv())
        assert first["type"] == "snapshot"
        assert first["account"] == 5_000_001
        assert {"account", "positions", "orders", "status"} <= set(first["data"])
        update = receive(ws, {"account"})
        assert set(update) == {"type", "account", "ts", "data"}
        assert update["data"]["login"] == 5_000_001
        assert receive(ws, {"heartbeat"})["data"]["mt5"] == "connected"
    finally:
        ws.close()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("not json", "frame is not valid JSON"),
        ("[1, 2]", 'expected a JSON object with a "type"'),
        ('{"type": "launch"}', "unknown message type 'launch'"),
        ('{"kind": "ping"}', 'expected a JSON object with a "type"'),
    ],
)
def test_garbage_gets_an_error_frame_and_the_socket_stays_open(live: Any, frame: str, message: str) -> None:
    server, _ = live
    ws = websocket.create_connection(server.ws_url, timeout=5)
    try:
        ws.send(frame)
        error = receive(ws, {"error"})
        assert error["data"]["message"].startswith(message)
        ws.send('{"type": "ping"}')
        pong = receive(ws, {"heartbeat"})
        while pong["data"] != {"pong": True}:
            pong = receive(ws, {"heartbeat"})
        ws.send('{"type": "snapshot"}')
        assert receive(ws, {"snapshot"})["account"] == 5_000_001
    finally:
        ws.close()


def test_binary_frames_are_refused_politely(live: Any) -> None:
    server, _ = live
    ws = websocket.create_connection(server.ws_url, timeout=5)
    try:
        ws.send_binary(b"\x00\x01")
        assert "binary frames are not accepted" in receive(ws, {"error"})["data"]["message"]
    finally:
        ws.close()


def test_oversized_frames_close_the_socket_but_not_the_stream(live: Any) -> None:
    server, runtime = live
    ws = websocket.create_connection(server.ws_url, timeout=5)
    ws.send("x" * (256 * 1024))
    with pytest.raises((websocket.WebSocketException, ConnectionError)):
        for _ in range(1000):
            ws.recv()
    other = websocket.create_connection(server.ws_url, timeout=5)
    try:
        assert receive(other, {"snapshot"})
        assert receive(other, {"account"})
    finally:
        other.close()
    assert runtime.streamer.running


def test_shutdown_sends_a_close_frame(live: Any) -> None:
    server, runtime = live
    ws = websocket.create_connection(server.ws_url, timeout=5)
    assert receive(ws, {"snapshot"})
    runtime.stop()  # bounded by the runtime's own deadlines, whatever the socket does
    code = None
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(data[:2], "big")
            break
    assert code == 1001
    assert runtime.fanout.client_count() == 0


def test_batches_are_numbered_and_coalesced(live: Any) -> None:
    server, _ = live
    ws = websocket.create_connection(server.ws_url + "?batch_ms=300", timeout=5)
    try:
        first = json.loads(ws.recv())
        assert first["type"] == "batch" and first["data"]["seq"] == 1
        assert [e["type"] for e in first["data"]["events"][:2]] == ["hello", "snapshot"]
        received = [json.loads(ws.recv()) for _ in range(3)]
        assert [b["data"]["seq"] for b in received] == [2, 3, 4]
        assert all(b["type"] == "batch" for b in received)
        assert sum(len(b["data"]["events"]) for b in received) >= 6, "several 100 ms polls per 300 ms batch"
        ws.send('{"type": "snapshot"}')
        for _ in range(5):
            events = json.loads(ws.recv())["data"]["events"]
            if any(e["type"] == "snapshot" for e in events):
                break
        else:
            raise AssertionError("a requested snapshot arrives inside the batch stream")
    finally:
        ws.close()


def test_bad_batch_parameter_gets_an_error_frame_then_plain_events(live: Any) -> None:
    server, _ = live
    ws = websocket.create_connection(server.ws_url + "?batch_ms=fast", timeout=5)
    try:
        error = json.loads(ws.recv())
        assert error["type"] == "error" and error["data"]["message"].startswith("batch_ms: expected an integer")
        assert [json.loads(ws.recv())["type"] for _ in range(2)] == ["hello", "snapshot"]
    finally:
        ws.close()


def test_dropped_messages_show_as_a_sequence_gap() -> None:
    sent: list[str] = []
    outbox = Outbox(SimpleNamespace(send=sent.append), 0.001, 1)
    for dropped in (0, 0, 3, 3):
        outbox.put('{"type":"heartbeat"}')
        time.sleep(0.002)
        outbox.flush(dropped)
    assert [json.loads(frame)["data"]["seq"] for frame in sent] == [1, 2, 4, 5]


def test_a_page_per_account_gets_only_that_accounts_events() -> None:
    from api.ws import account_option

    keys = Keys("mt5")
    assert keys.login_of_events(keys.events(7002)) == 7002, "the account is read from the channel"
    assert keys.login_of_events("other:7002:events") is None and keys.login_of_events("mt5:x:events") is None
    assert account_option({"account": "7002"}) == 7002 and account_option({}) is None
    with pytest.raises(ValueError, match=r"^account: expected an account number"):
        account_option({"account": "7002; drop"})


def test_a_batch_gathers_one_polls_events_and_waits_for_the_ack() -> None:
    sent: list[str] = []
    outbox = Outbox(SimpleNamespace(send=sent.append), 0.05, 1, ack=True)
    outbox.put('{"type":"account"}')
    outbox.flush()
    assert sent == [], "a batch leaves batch_ms after its first event"
    outbox.put('{"type":"positions"}')
    time.sleep(0.06)
    outbox.flush()
    assert [e["type"] for e in json.loads(sent[0])["data"]["events"]] == ["account", "positions"]
    outbox.put('{"type":"account"}')
    time.sleep(0.06)
    outbox.flush()
    assert len(sent) == 1 and outbox.waiting_for_ack(), "the next batch waits for the page's ack"
    outbox.acknowledge(1)
    outbox.flush()
    assert len(sent) == 2, "what waited for the ack leaves as soon as it comes"
    assert json.loads(sent[1])["data"]["seq"] == 2


def render_frames(ws: websocket.WebSocket, count: int, view: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """``count`` render frames, each acknowledged (the first ack with the page's view)."""
    frames = []
    for _ in range(count):
        frame = json.loads(ws.recv())
        assert frame["type"] == "render", frame
        frames.append(frame)
        ack = {"type": "ack", "seq": frame["data"]["seq"], **({"view": view} if view and len(frames) == 1 else {})}
        ws.send(json.dumps(ack))
    return frames


def test_a_page_gets_its_changes_rendered_and_ready_to_apply(live: Any) -> None:
    server, _ = live
    ws = websocket.create_connection(server.ws_url + "?batch_ms=10&ack=1&view=page&tz=Europe/Berlin", timeout=5)
    try:
        charts = {"login": LOGIN, "last_ts": 0, "peak": 0.0, "live": True, "rev": 5}
        whole, *changes = render_frames(ws, 6, {ids.CLIENT: {"tz": "Europe/Berlin"}, ids.REPLAY: None,
                                                ids.CHART_STATE: charts})  # fmt: skip
        data = whole["data"]
        assert data["full"] and data["protocol"] == PROTOCOL_VERSION and data["seq"] == 1
        shared = data["shared"]
        assert shared["set"][ids.ACCOUNT_TITLE] == {"children": f"Demo Trader · #{LOGIN}"}
        assert shared["live"][ids.kpi_value("equity")]["children"].startswith("$"), "texts, not figures to format"
        rows = shared["live"][ids.POSITIONS_GRID]["rowData"]
        assert rows and all(row["row_id"] == str(row["ticket"]) for row in rows)
        assert shared["set"][ids.CHART_RELOAD]["data"], "the page reloads its charts"
        for _ in range(60):  # a loaded machine may split a poll's events over several frames
            if any(c["data"]["first"] for c in changes) and any(grid_changes(c) for c in changes):
                break
            changes += render_frames(ws, 1)
        assert [c["data"]["seq"] for c in changes] == list(range(2, len(changes) + 2))
        assert not any(c["data"]["full"] for c in changes)
        appended = [c["data"] for c in changes if c["data"]["first"]]
        assert appended and all(d["rev"] == 5 for d in appended), "points appended to the charts the page holds"
        assert ids.DRAWDOWN_GRAPH in appended[-1]["own"]
        grids = [grid for c in changes for grid in grid_changes(c)]
        assert grids and all(set(grid) == {"rowTransaction"} for grid in grids), "grids change by transactions"
        health = get_json(server.url + "/health")
        assert (health["websocket"]["clients"], health["views"]["rendered"]) == (1, 1)
    finally:
        ws.close()
    wait_until(lambda: get_json(server.url + "/health")["views"]["rendered"] == 0, 5, "the view to go with its page")


def grid_changes(frame: dict[str, Any]) -> list[Any]:
    live = frame["data"]["shared"]["live"]
    return [live[ids.POSITIONS_GRID]] if ids.POSITIONS_GRID in live else []


def test_a_page_that_asks_again_gets_the_whole_page(live: Any) -> None:
    server, _ = live
    ws = websocket.create_connection(server.ws_url + "?batch_ms=10&ack=1&view=page", timeout=5)
    try:
        render_frames(ws, 2)
        ws.send(json.dumps({"type": "ack", "seq": 2, "resync": True}))
        for _ in range(10):
            frame = json.loads(ws.recv())
            ws.send(json.dumps({"type": "ack", "seq": frame["data"]["seq"]}))
            if frame["data"]["full"]:
                break
        else:
            raise AssertionError("the whole page, asked for, arrives in the frame stream")
    finally:
        ws.close()


class FakeHub:
    """Hands out a whole page on demand and counts how often."""

    def __init__(self) -> None:
        self.joined = 0

    def join(self, viewer: Any, queue: Any, reload: bool = True) -> Render:
        self.joined += 1
        return Render(set={"whole": {"children": self.joined}}, full=True, reload=reload)


class FakeViewer:
    login = 7

    def own(self, points: list[Any]) -> tuple[dict[str, Any], dict[str, Any], Any]:
        return ({"chart": {"extendData": list(points)}} if points else {}), {}, None


def test_lost_renders_make_the_next_frame_a_whole_page() -> None:
    sent: list[str] = []
    hub = FakeHub()
    outbox = RenderOutbox(SimpleNamespace(send=sent.append), 0.001, False, hub, FakeViewer(), ClientQueue(4))
    outbox.hold(Render(live={"kpi": {"children": "1"}}, points=[1]))
    time.sleep(0.002)
    outbox.flush(0)
    outbox.hold(Render(live={"kpi": {"children": "2"}}))
    time.sleep(0.002)
    outbox.flush(3)  # the socket's queue dropped three renders meanwhile
    first, second = (json.loads(frame)["data"] for frame in sent)
    assert (first["seq"], first["full"], first["first"]) == (1, False, {"chart": {"extendData": [1]}})
    assert (second["seq"], second["full"]) == (3, True) and hub.joined == 1, "a gap, and the page whole again"
    assert second["shared"]["set"] == {"whole": {"children": 1}} and second["protocol"] == PROTOCOL_VERSION
    outbox.hold(Render(points=[]))
    time.sleep(0.002)
    outbox.flush(3)
    assert len(sent) == 2, "a frame with nothing to set is not sent"


def test_a_bad_view_gets_an_error_frame() -> None:
    from api.ws import view_option

    assert view_option({}) is None and view_option({"view": "page"}) == "page"
    with pytest.raises(ValueError, match=r"^view: expected one of"):
        view_option({"view": "everything"})
