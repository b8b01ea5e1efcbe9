"""``/ws`` against hostile clients: floods, readers that never read, too many sockets, deep frames, vanishing peers."""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websocket

from services.core.protocol import Message
from services.ingest.sources.demo import DemoSource
from tests.helpers import get_json, wait_until

BIG_EVENT = Message.of_text(json.dumps({"type": "status", "account": None, "ts": 1, "data": {"pad": "x" * 60_000}}))


@pytest.fixture
def start(make_app: Any, serve: Any) -> Any:
    """An app with these settings, served on a free port, once its first snapshot is there."""

    def started(env: dict[str, str] | None = None) -> tuple[Any, Any]:
        app = make_app({"POLL_INTERVAL_MS": "100", "HEARTBEAT_S": "1", **(env or {})}, source=DemoSource(seed=9))
        runtime = app.server.extensions["mt5_runtime"]
        wait_until(runtime.streamer.latest, 10, "the first snapshot")
        return serve(app.server), runtime

    return started


def receive(ws: websocket.WebSocket, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """The next frame of this type; a close frame on the way fails the test with its code."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise AssertionError(f"closed with {int.from_bytes(data[:2], 'big')} before a {kind!r} frame")
        if opcode == websocket.ABNF.OPCODE_TEXT and json.loads(data)["type"] == kind:
            return json.loads(data)
    raise AssertionError(f"no {kind!r} frame within {timeout} s")


def close_code(ws: websocket.WebSocket, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(data[:2], "big")
    raise AssertionError(f"no close frame within {timeout} s")


def never_reading(url: str) -> websocket.WebSocket:
    """A client with a tiny receive buffer that will never read: what the server sends piles up at once."""
    return websocket.create_connection(url, timeout=5, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))


@pytest.fixture
def spied_input(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int, int]]]:
    """(frames, characters, discarded) of a connection's unread input after each frame its reader thread received."""
    from api import wsconn

    seen: list[tuple[int, int, int]] = []
    original = wsconn.InputQueue.append

    def append(queue: Any, frame: str | bytes) -> None:
        original(queue, frame)
        seen.append((len(queue), queue.size, queue.discarded))

    monkeypatch.setattr(wsconn.InputQueue, "append", append)
    yield seen


def test_a_flood_from_a_client_that_never_reads_keeps_a_bounded_input(
    start: Any, spied_input: list[tuple[int, int, int]]
) -> None:
    from api.wsconn import MAX_UNREAD_FRAMES, MAX_UNREAD_SIZE

    server, runtime = start({"WS_SEND_TIMEOUT_S": "1"})
    ws = never_reading(server.ws_url)
    try:
        for _ in range(20_000):  # each asks for a snapshot of several KB that the client never reads
            ws.send('{"type": "snapshot"}')
    except (OSError, websocket.WebSocketException):
        pass  # the server closed the connection: the flood is over
    finally:
        wait_until(lambda: runtime.fanout.client_count() == 0, 30, "the flooding client to be dropped")
        ws.close(timeout=0)
    assert max(seen[2] for seen in spied_input) > 0, "the client sent more than the server keeps"
    assert max(seen[0] for seen in spied_input) <= MAX_UNREAD_FRAMES
    assert max(seen[1] for seen in spied_input) <= MAX_UNREAD_SIZE


def test_a_flood_while_the_handler_is_busy_gets_an_error_frame_and_1008(
    start: Any, spied_input: list[tuple[int, int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.wsconn import MAX_UNREAD_FRAMES

    server, runtime = start()
    ws = websocket.create_connection(server.ws_url, timeout=5)
    busy = threading.Event()
    snapshot_event = runtime.snapshot_event

    def slow_snapshot(account: int | None = None) -> Any:
        busy.wait(10)
        return snapshot_event(account)

    try:
        receive(ws, "snapshot")
        monkeypatch.setattr(runtime, "snapshot_event", slow_snapshot)
        ws.send('{"type": "snapshot"}')  # the handler is now busy with it
        for _ in range(2 * MAX_UNREAD_FRAMES):
            ws.send('{"type": "ping"}')
        wait_until(lambda: spied_input and spied_input[-1][2] > 0, 10, "frames beyond the bound to be discarded")
        busy.set()
        assert receive(ws, "error")["data"]["message"].startswith(f"more than {MAX_UNREAD_FRAMES} frames")
        assert close_code(ws) == 1008
    finally:
        busy.set()
        ws.close(timeout=0)
    wait_until(lambda: runtime.fanout.client_count() == 0, 10, "the client to be gone")
    assert max(seen[0] for seen in spied_input) <= MAX_UNREAD_FRAMES


def test_a_reader_that_never_reads_is_dropped_after_the_send_timeout(
    start: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server, runtime = start({"WS_SEND_TIMEOUT_S": "0.5"})
    ws = never_reading(server.ws_url)

    def pushed_until_dropped() -> bool:
        for _ in range(8):
            runtime.fanout.broadcast(BIG_EVENT)
        return runtime.fanout.client_count() == 0

    try:
        wait_until(lambda: runtime.fanout.client_count() == 1, 10, "the client to be registered")
        caplog.clear()
        wait_until(pushed_until_dropped, 60, "the server to drop a client that reads nothing")
    finally:
        ws.close(timeout=0)
    timeouts = [r for r in caplog.records if "did not complete" in r.getMessage()]
    assert len(timeouts) == 1 and timeouts[0].levelno == logging.WARNING
    assert not [r for r in caplog.records if r.exc_info], "no traceback"


def test_connections_over_the_cap_are_refused_with_1013(start: Any) -> None:
    server, runtime = start({"WS_MAX_CONNECTIONS": "2"})
    held = [websocket.create_connection(server.ws_url, timeout=5) for _ in range(2)]
    try:
        for ws in held:
            receive(ws, "snapshot")
        extra = websocket.create_connection(server.ws_url, timeout=5)
        try:
            assert "try again later" in receive(extra, "error")["data"]["message"]
            assert close_code(extra) == 1013
        finally:
            extra.close(timeout=0)
        health = get_json(server.url + "/health")["websocket"]
        assert (health["clients"], health["max_clients"], health["refused"]) == (2, 2, 1)
        held.pop().close()
        wait_until(lambda: runtime.fanout.client_count() == 1, 10, "the closed socket to free its slot")
        again = websocket.create_connection(server.ws_url, timeout=5)
        held.append(again)
        receive(again, "snapshot")
    finally:
        for ws in held:
            ws.close(timeout=0)


def test_a_deeply_nested_frame_gets_an_error_frame_and_the_socket_stays_open(start: Any) -> None:
    server, _ = start()
    ws = websocket.create_connection(server.ws_url, timeout=5)
    try:
        receive(ws, "snapshot")
        ws.send("[" * 30_000 + "]" * 30_000)
        assert "nested deeper than" in receive(ws, "error")["data"]["message"]
        ws.send('{"type": "ping"}')
        while receive(ws, "heartbeat")["data"] != {"pong": True}:
            pass
    finally:
        ws.close()


def test_nesting_is_counted_outside_strings_only() -> None:
    from api.ws import parse_frame
    from services.core.protocol import MAX_FRAME_DEPTH

    message, error = parse_frame(json.dumps({"type": "ping", "note": "[{" * 5_000}))
    assert error is None and message is not None
    shallow = parse_frame("[" * MAX_FRAME_DEPTH + "]" * MAX_FRAME_DEPTH)[1]
    assert shallow is not None and "expected a JSON object" in shallow
    deeper = parse_frame('{"type": "ping", "a": ' + "[" * MAX_FRAME_DEPTH + "]" * MAX_FRAME_DEPTH + "}")[1]
    assert deeper is not None and "nested deeper" in deeper


def test_a_client_that_vanishes_mid_send_ends_quietly(start: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server, runtime = start({"WS_QUEUE_SIZE": "8", "WS_SEND_TIMEOUT_S": "60"})
    ws = never_reading(server.ws_url)

    def stuck_in_a_send() -> bool:
        runtime.fanout.broadcast(BIG_EVENT)
        return runtime.fanout.dropped_total() > 0  # its queue overflows: the handler no longer takes from it

    wait_until(lambda: runtime.fanout.client_count() == 1, 10, "the client to be registered")
    caplog.clear()
    wait_until(stuck_in_a_send, 30, "the handler to be blocked in a send")
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.sock.close()  # a reset: no close frame, no FIN
    wait_until(lambda: runtime.fanout.client_count() == 0, 10, "the handler to end")
    wait_until(lambda: [r for r in caplog.records if r.name == "werkzeug" and "/ws" in r.getMessage()], 10,
               "the request to be over (the server logs it last)")  # fmt: skip
    assert not [r for r in caplog.records if r.exc_info], "no traceback"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([r for r in caplog.records if r.name == "api.ws"]) <= 1, "one line at most"


@pytest.mark.parametrize("fault", [BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset by peer")])
def test_a_send_into_a_vanished_client_ends_the_handler_in_one_debug_line(
    start: Any, caplog: pytest.LogCaptureFixture, fault: OSError
) -> None:
    from api.ws import stream

    class Vanished:
        """The client is gone: the first send fails as a reset socket's does."""

        def send(self, data: str) -> None:
            raise fault

        def receive(self, timeout: float | None = None) -> None:
            return None

    server, runtime = start()
    caplog.set_level(logging.DEBUG, logger="api.ws")
    with server.server.app.test_request_context("/ws"):
        stream(Vanished(), runtime)
    assert runtime.fanout.client_count() == 0
    lines = [r for r in caplog.records if r.name == "api.ws"]
    assert [(r.levelno, r.exc_info) for r in lines] == [(logging.DEBUG, None)]
    assert type(fault).__name__ in lines[0].getMessage()
