"""``/ws``: the snapshot first, then every event from the fan-out; error frames for bad input."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Flask, current_app, request
from flask_sock import ConnectionClosed, Sock

from services.runtime import Runtime
from services.store import dumps, event

log = logging.getLogger(__name__)

PING_INTERVAL_S = 20
MAX_FRAME_BYTES = 64 * 1024
SEND_WAIT_S = 0.1
GOING_AWAY = 1001
MAX_BATCH_MS = 5000

sock = Sock()


def init_app(app: Flask) -> None:
    app.config.setdefault(
        "SOCK_SERVER_OPTIONS", {"ping_interval": PING_INTERVAL_S, "max_message_size": MAX_FRAME_BYTES}
    )
    sock.init_app(app)


def error_frame(message: str) -> str:
    return dumps(event("error", None, int(time.time() * 1000), {"message": message}))


def reply_to(frame: Any, rt: Runtime) -> str:
    """The answer to one client frame: a pong, a fresh snapshot, or an error that says what was wrong."""
    if isinstance(frame, bytes):
        return error_frame("binary frames are not accepted; send JSON text")
    try:
        message = json.loads(frame)
    except ValueError:
        return error_frame("frame is not valid JSON")
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return error_frame('expected a JSON object with a "type", e.g. {"type": "ping"}')
    kind = message["type"]
    if kind == "ping":
        return dumps(event("heartbeat", rt.login(), int(time.time() * 1000), {"pong": True}))
    if kind == "snapshot":
        snapshot = rt.snapshot_event()
        return dumps(snapshot) if snapshot else error_frame("no snapshot yet: the MT5 source has not answered")
    return error_frame(f"unknown message type {kind[:40]!r}; expected 'ping' or 'snapshot'")


def batch_interval_s(raw: str | None) -> float:
    """``?batch_ms=N`` (0-5000) asks for events coalesced into numbered ``batch`` frames."""
    if raw is None or raw == "":
        return 0.0
    if not raw.isdigit() or int(raw) > MAX_BATCH_MS:
        raise ValueError(f"batch_ms: expected an integer from 0 to {MAX_BATCH_MS}, got {raw[:20]!r}")
    return int(raw) / 1000


class Outbox:
    """Sends events one by one, or coalesced into numbered batches so a page that only ever sees
    the latest frame (as a Dash component does) can detect a gap by its sequence number."""

    def __init__(self, ws: Any, interval_s: float, login: int | None) -> None:
        self.ws = ws
        self.interval_s = interval_s
        self.login = login
        self.pending: list[str] = []
        self.seq = 0
        self.dropped_reported = 0
        self.last_sent = 0.0

    def put(self, message: str) -> None:
        if self.interval_s:
            self.pending.append(message)
        else:
            self.ws.send(message)

    def flush(self, dropped: int = 0) -> None:
        """Send the pending batch; if the client's queue dropped messages since, skip a number."""
        now = time.monotonic()
        if not self.pending or now - self.last_sent < self.interval_s:
            return
        self.seq += 2 if dropped > self.dropped_reported else 1
        self.dropped_reported = dropped
        self.last_sent = now
        events = ",".join(self.pending)
        self.pending = []
        header = dumps({"type": "batch", "account": self.login, "ts": int(time.time() * 1000)})[:-1]
        self.ws.send(f'{header},"data":{{"seq":{self.seq},"events":[{events}]}}}}')

    def wait_s(self) -> float:
        if not self.pending:
            return SEND_WAIT_S
        return max(0.0, min(SEND_WAIT_S, self.interval_s - (time.monotonic() - self.last_sent)))


@sock.route("/ws")
def stream(ws: Any) -> None:
    rt: Runtime = current_app.extensions["mt5_runtime"]
    try:
        interval_s = batch_interval_s(request.args.get("batch_ms"))
    except ValueError as exc:
        ws.send(error_frame(str(exc)))
        interval_s = 0.0
    queue = rt.fanout.register()
    outbox = Outbox(ws, interval_s, rt.login())
    try:
        snapshot_sent = False
        while not queue.closed:
            if not snapshot_sent:
                snapshot = rt.snapshot_event()
                if snapshot is not None:
                    outbox.put(dumps(snapshot))
                    snapshot_sent = True
            messages = queue.take(outbox.wait_s())
            if snapshot_sent:  # until then the snapshot still to come supersedes them
                for message in messages:
                    outbox.put(message)
            frame = ws.receive(timeout=0)
            while frame is not None:
                outbox.put(reply_to(frame, rt))
                frame = ws.receive(timeout=0)
            outbox.flush(queue.dropped)
        ws.close(reason=GOING_AWAY, message="server shutting down")
    except ConnectionClosed:
        pass
    finally:
        rt.fanout.unregister(queue)
