"""``/ws``: the hello, the snapshot, then every event from the fan-out; or a page's rendered updates.

Plain clients get one frame per event. ``?batch_ms=N`` coalesces events into numbered ``batch`` frames
(a batch leaves N ms after its first event, so one poll's events travel together), and with ``ack=1`` the
next batch waits until the client acknowledged the last one.

The dashboard asks for ``?batch_ms=5&ack=1&view=page`` (the overview page for ``view=overview``): it gets
no events but ``render`` frames, its changes rendered on the server for its view and ready to apply
(``services/live/viewhub.py``, ``views/``), and answers each with an ack that carries its view. Nothing goes back
to the server per frame but that ack.

No client can hold the server: at most ``WS_MAX_CONNECTIONS`` sockets per process (1013 beyond), bounded
unread input and timed sends (``api/wsconn.py``), client frames nested at most ``MAX_FRAME_DEPTH`` deep, and
a connection that ends badly ends in one log line at most.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from flask import Flask, Response, current_app, request
from simple_websocket import ConnectionClosed

from api.outbox import Outbox, RenderOutbox
from api.params import parse_int
from api.wsconn import Connection, Flooded, HandedOver
from services.core.protocol import (
    ACK,
    ERROR,
    HEARTBEAT,
    PING,
    SNAPSHOT,
    VIEW,
    VIEWS,
    BadFrame,
    ClientFrame,
    client_frame,
    dumps,
    event,
    hello,
)
from services.live.fanout import ClientQueue
from services.live.render import Render
from services.live.viewhub import Viewer, ViewHub
from services.runtime import Runtime

log = logging.getLogger(__name__)

GOING_AWAY = 1001
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
MAX_BATCH_MS = 5000


def init_app(app: Flask) -> None:
    app.add_url_rule("/ws", "ws", socket_view, websocket=True)
    app.add_url_rule("/ws", "ws_upgrade_required", upgrade_required)


def upgrade_required() -> Response:
    """``/ws`` asked without the upgrade (a browser tab, curl): 426, not the page that Dash's catch-all would serve."""
    body = dumps({"error": "/ws is a WebSocket endpoint: connect with an Upgrade: websocket request", "status": 426})
    return Response(body, 426, mimetype="application/json", headers={"Upgrade": "websocket", "Connection": "Upgrade"})


def error_frame(message: str) -> str:
    return dumps(event(ERROR, None, int(time.time() * 1000), {"message": message}))


def pong(rt: Runtime) -> str:
    return dumps(event(HEARTBEAT, rt.login(), int(time.time() * 1000), {"pong": True}))


def parse_frame(frame: Any) -> tuple[ClientFrame | None, str | None]:
    """A client frame as a message, or the error frame that says what was wrong with it."""
    try:
        return client_frame(frame), None
    except BadFrame as exc:
        return None, error_frame(str(exc))


def account_option(args: Any) -> int | None:
    raw = args.get("account")
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise ValueError(f"account: expected an account number, got {raw[:20]!r}")
    return int(raw)


def view_option(args: Any) -> str | None:
    """``view=page``: the dashboard's rendered updates; ``view=overview``: the overview page's."""
    raw = args.get("view")
    if raw is None or raw == "":
        return None
    if raw not in VIEWS:
        raise ValueError(f"view: expected one of {', '.join(VIEWS)}, got {raw[:20]!r}")
    return raw


def query_options(args: Any) -> tuple[float, bool]:
    """``batch_ms`` (0-5000) and ``ack`` (0/1) from the query string; raises ValueError naming the bad one."""
    batch_ms = parse_int("batch_ms", args.get("batch_ms"), 0, MAX_BATCH_MS, 0)
    ack = args.get("ack") or "0"
    if ack not in ("0", "1"):
        raise ValueError(f"ack: expected 0 or 1, got {ack[:20]!r}")
    return batch_ms / 1000, ack == "1" and batch_ms > 0


def socket_view() -> Response:
    """``/ws``: the connection, its stream, and the socket shut whatever ended it."""
    rt: Runtime = current_app.extensions["mt5_runtime"]
    try:
        ws = Connection(request.environ, rt.settings.ws_send_timeout_s)
    except OSError as exc:  # gone during the handshake
        log.debug("/ws %s: client went away during the handshake (%s)", request.remote_addr, type(exc).__name__)
        return Response(status=400)
    try:
        stream(ws, rt)
    finally:
        ws.drop()
    return HandedOver(ws.mode)


def stream(ws: Connection, rt: Runtime) -> None:
    """Serve one socket until it or the server closes; what a client does to it ends here, in one line at most."""
    peer = request.remote_addr
    try:
        interval_s, ack = query_options(request.args)
        account = account_option(request.args)
        kind = view_option(request.args)
        viewer = None if kind is None else views().viewer(kind, account, request.args)
    except ValueError as exc:
        ws.send(error_frame(str(exc)))
        interval_s, ack, account, viewer = 0.0, False, None, None
    queue = rt.fanout.register(raw=viewer is None)
    if queue is not None:
        ws.wake = queue.wake
    try:
        if queue is None:
            log.info("/ws %s: refused, %d WebSocket connections already open", peer, rt.fanout.max_clients)
            ws.send(error_frame(f"this server has its {rt.fanout.max_clients} WebSocket connections open "
                                "(WS_MAX_CONNECTIONS); try again later"))  # fmt: skip
            ws.close_with(TRY_AGAIN_LATER, "too many connections")
        elif viewer is None:
            relay(ws, rt, queue, Outbox(ws, interval_s, account or rt.login(), ack), account)
        else:
            relay_page(ws, rt, queue, RenderOutbox(ws, interval_s, ack, views(), viewer, queue))
    except Flooded as exc:
        log.warning("/ws %s: closed (1008), %s", peer, exc)
        with contextlib.suppress(OSError, ConnectionClosed):  # it may read nothing: the send timeout bounds this
            ws.send(error_frame(str(exc)))
            ws.close_with(POLICY_VIOLATION, "too many unread frames")
    except TimeoutError:
        log.warning("/ws %s: dropped, a send did not complete in %g s (the client reads nothing)", peer,
                    rt.settings.ws_send_timeout_s)  # fmt: skip
    except OSError as exc:  # BrokenPipe, ConnectionReset: the client vanished
        log.debug("/ws %s: client went away (%s)", peer, type(exc).__name__)
    except ConnectionClosed:
        pass
    finally:
        if queue is not None:
            rt.fanout.unregister(queue)


def views() -> ViewHub:
    return current_app.extensions["mt5_views"]


def wait(ws: Connection, queue: ClientQueue, outbox: Outbox) -> tuple[list[Any], Any]:
    """What the fan-out queued and the client's next frame, sleeping on the queue until the client sent a frame
    (the socket's reader wakes it, ``stream``), the pending batch is due or the ack timed out; a message wakes it
    only when it could leave at once (nothing pending, no ack awaited)."""
    items = queue.take(outbox.wait_s(), early=outbox.idle())
    return items, ws.receive(timeout=0)


def relay(ws: Connection, rt: Runtime, queue: ClientQueue, outbox: Outbox, account: int | None) -> None:
    """The hello and the snapshot, then the fan-out's events and the answers to client frames, until the
    fan-out closes."""
    outbox.put(dumps(hello(outbox.login, int(time.time() * 1000))))
    snapshot_sent = False
    while not queue.closed:
        if not snapshot_sent:
            snapshot = rt.snapshot_event(account)
            if snapshot is not None:
                outbox.put(dumps(snapshot))
                snapshot_sent = True
        messages, frame = wait(ws, queue, outbox)
        if snapshot_sent:  # until then the snapshot still to come supersedes them
            for message in messages:
                if account is None or message.account in (None, account):
                    outbox.put(message.text)
        while frame is not None:
            handle_frame(frame, outbox, rt, account)
            frame = ws.receive(timeout=0)
        outbox.flush(queue.dropped)
    ws.close_with(GOING_AWAY, "server shutting down")


def handle_frame(frame: Any, outbox: Outbox, rt: Runtime, account: int | None) -> None:
    message, error = parse_frame(frame)
    if message is None:
        outbox.put(error or "")
    elif message["type"] == PING:
        outbox.put(pong(rt))
    elif message["type"] == ACK:
        outbox.acknowledge(message["seq"])
    if message is not None and (message["type"] == SNAPSHOT or message.get("resync") is True):
        snapshot = rt.snapshot_event(account)
        outbox.put(dumps(snapshot) if snapshot else error_frame("no snapshot yet: the MT5 source has not answered"))


def relay_page(ws: Connection, rt: Runtime, queue: ClientQueue, outbox: RenderOutbox) -> None:
    """The whole page for its view, then its view's renders, until the fan-out closes; the page's acks say
    what it took and which view it shows."""
    outbox.hold(views().join(outbox.viewer, queue))
    try:
        while not queue.closed:
            renders, frame = wait(ws, queue, outbox)
            for render in renders:
                outbox.hold(render)
            while frame is not None:
                handle_page_frame(frame, outbox, rt)
                frame = ws.receive(timeout=0)
            outbox.flush(queue.dropped)
    finally:
        views().leave(outbox.viewer.key(), queue)
    ws.close_with(GOING_AWAY, "server shutting down")


def handle_page_frame(frame: Any, outbox: RenderOutbox, rt: Runtime) -> None:
    """Errors and pongs go out at once, outside the numbered frames; an ack or a view frame may carry the
    page's view, and ask for the whole page again (``resync``, or ``snapshot``)."""
    message, error = parse_frame(frame)
    if message is None:
        outbox.ws.send(error or "")
        return
    if message["type"] == PING:
        outbox.ws.send(pong(rt))
    if isinstance(message.get("seq"), int) and message["type"] in (ACK, VIEW):
        outbox.acknowledge(message["seq"])
    if "view" in message:
        changed = change_view(outbox.viewer, message["view"], outbox.queue)
        if changed is not None:
            outbox.hold(changed)
    if message["type"] == SNAPSHOT or message.get("resync") is True:
        outbox.hold(views().join(outbox.viewer, outbox.queue))


def change_view(viewer: Viewer, view: dict[str, Any], queue: ClientQueue) -> Render | None:
    """The page's view taken: the whole page of a new view, an empty render when only its charts changed
    (their new points follow), or None."""
    old_key = viewer.key()
    changed = viewer.change(view)
    if changed == "key":
        return views().move(viewer, old_key, queue)
    return Render() if changed == "charts" else None
