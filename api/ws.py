"""``/ws``: the snapshot first, then every event from the fan-out; error frames for bad input.

Plain clients get one frame per event. The dashboard asks for ``?batch_ms=5&ack=1&view=page``:
events coalesced into numbered ``batch`` frames (a batch leaves 5 ms after its first event,
so one poll's events travel together), and the next batch only once the page acknowledged
the last one. A Dash callback re-triggered while it runs has its result thrown away, so one
batch in flight at a time is what keeps every update. ``view=page`` cuts the events down to
what the page shows and sends its grids as changes (``PageView``): the page hands every frame
back to its Dash callback, so each byte of a frame travels twice.

No client can hold the server: at most ``WS_MAX_CONNECTIONS`` sockets per process (1013 beyond), bounded
unread input and timed sends (``api/wsconn.py``), client frames nested at most ``MAX_FRAME_DEPTH`` deep, and
a connection that ends badly ends in one log line at most.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Flask, Response, current_app, request
from simple_websocket import ConnectionClosed

from api.outbox import Outbox
from api.params import parse_int
from api.wsconn import Connection, Flooded, HandedOver
from services import rowdiff
from services.fanout import ClientQueue
from services.protocol import (
    ACCOUNT,
    ACCOUNTS,
    ACK,
    DEALS,
    ERROR,
    HEARTBEAT,
    ORDERS,
    PING,
    POSITIONS,
    SNAPSHOT,
    STATUS,
    BadFrame,
    ClientFrame,
    Message,
    client_frame,
    dumps,
    event,
    hello,
)
from services.runtime import Runtime

log = logging.getLogger(__name__)
Sender = Callable[[Message], None]

GOING_AWAY = 1001
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
MAX_BATCH_MS = 5000


def init_app(app: Flask) -> None:
    app.add_url_rule("/ws", "ws", socket_view, websocket=True)


def error_frame(message: str) -> str:
    return dumps(event(ERROR, None, int(time.time() * 1000), {"message": message}))


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


def view_option(args: Any) -> PageView | OverviewView | None:
    """``view=page``: the dashboard's cut of the events; ``view=overview``: the overview page's."""
    raw = args.get("view")
    if raw is None or raw == "":
        return None
    if raw not in VIEWS:
        raise ValueError(f"view: expected one of {', '.join(VIEWS)}, got {raw[:20]!r}")
    return VIEWS[raw]()


def query_options(args: Any) -> tuple[float, bool]:
    """``batch_ms`` (0-5000) and ``ack`` (0/1) from the query string; raises ValueError naming the bad one."""
    batch_ms = parse_int("batch_ms", args.get("batch_ms"), 0, MAX_BATCH_MS, 0)
    ack = args.get("ack") or "0"
    if ack not in ("0", "1"):
        raise ValueError(f"ack: expected 0 or 1, got {ack[:20]!r}")
    return batch_ms / 1000, ack == "1" and batch_ms > 0


# What the dashboard reads of each event (callbacks/live.py, the grid columns in layouts/tables.py).
PAGE_ACCOUNT = ("login", "balance", "equity", "profit", "margin", "margin_free", "margin_level", "margin_so_mode",
                "margin_so_call", "margin_so_so", "currency", "currency_digits")  # fmt: skip
PAGE_ROWS = {
    POSITIONS: ("ticket", "symbol", "type", "volume", "price_open", "price_current", "sl", "tp", "swap", "profit",
                  "time_utc_ms"),
    ORDERS: ("ticket", "symbol", "type", "volume_current", "price_open", "price_current", "sl", "tp",
               "time_setup_utc_ms"),
}  # fmt: skip
PAGE_DEAL = ("ticket", "type", "profit", "time_utc_ms")


def _cut(record: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: record[name] for name in fields if name in record}


class PageView:
    """``?view=page``: each event cut down to what the dashboard shows, and its grids as changes.

    An account event keeps the KPI fields; a ``positions`` or ``orders`` event becomes the changes
    from the rows this socket sent before, as an AG Grid transaction keyed by ticket
    (``services/rowdiff.py``) with the row count (plus ``"pl"``, profit and swap together, for positions).
    A snapshot starts the rows afresh. The page applies changes only while its ``seq`` has no gap,
    and a gap makes it ask for a snapshot.
    """

    wants_snapshot = True

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in PAGE_ROWS}

    def event(self, message: Message) -> str:
        kind, data = message.kind, message.data
        if kind == SNAPSHOT and isinstance(data, dict):
            for name, fields in PAGE_ROWS.items():
                self.rows[name] = [_cut(row, fields) for row in data.get(name) or [] if isinstance(row, dict)]
            data = {**data, **self.rows}
        elif kind == ACCOUNT and isinstance(data, dict):
            data = _cut(data, PAGE_ACCOUNT)
        elif kind in PAGE_ROWS and isinstance(data, list):
            data = self.changes(kind, [_cut(row, PAGE_ROWS[kind]) for row in data if isinstance(row, dict)])
        elif kind == DEALS and isinstance(data, list):
            data = [_cut(deal, PAGE_DEAL) for deal in data if isinstance(deal, dict)]
        else:
            return message.text
        return dumps(event(kind, message.account, message.ts, data))

    def changes(self, kind: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        rows = [row for row in rows if "ticket" in row]
        change: dict[str, Any] = {**rowdiff.diff(self.rows[kind], rows), "count": len(rows)}
        self.rows[kind] = rows
        if kind == POSITIONS:
            change["pl"] = round(sum(row.get("profit", 0.0) + row.get("swap", 0.0) for row in rows), 8)
        return change


OVERVIEW_ACCOUNT = ("login", "balance", "equity", "profit", "margin", "margin_level", "currency")
PASS_THROUGH = (ACCOUNTS, ERROR, STATUS)


class OverviewView:
    """``?view=overview``: the overview redraws from Redis at each frame, so a frame needs only the account
    figures (cut short) and the monitor's account states; snapshots, grids and deals are dropped."""

    wants_snapshot = False

    def event(self, message: Message) -> str | None:
        if message.kind in PASS_THROUGH:
            return message.text
        if message.kind != ACCOUNT or not isinstance(message.data, dict):
            return None
        return dumps(event(ACCOUNT, message.account, message.ts, _cut(message.data, OVERVIEW_ACCOUNT)))


VIEWS: dict[str, type[PageView] | type[OverviewView]] = {"page": PageView, "overview": OverviewView}


def handle_frame(frame: Any, outbox: Outbox, rt: Runtime, account: int | None, sent: Sender) -> None:
    message, error = parse_frame(frame)
    if message is None:
        outbox.put(error or "")
    elif message["type"] == PING:
        outbox.put(dumps(event(HEARTBEAT, rt.login(), int(time.time() * 1000), {"pong": True})))
    elif message["type"] == SNAPSHOT:
        send_snapshot(rt, account, outbox, sent)
    elif message["type"] == ACK:
        outbox.acknowledge(message["seq"])
        if message.get("resync") is True:
            send_snapshot(rt, account, outbox, sent)


def send_snapshot(rt: Runtime, account: int | None, outbox: Outbox, sent: Sender) -> None:
    snapshot = rt.snapshot_event(account)
    if snapshot is None:
        outbox.put(error_frame("no snapshot yet: the MT5 source has not answered"))
    else:
        sent(Message.of_event(snapshot))


def cut(message: Message, view: PageView | OverviewView, outbox: Outbox) -> None:
    text = view.event(message)
    if text is not None:
        outbox.put(text)


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
    queue = rt.fanout.register()
    try:
        if queue is None:
            log.info("/ws %s: refused, %d WebSocket connections already open", peer, rt.fanout.max_clients)
            ws.send(error_frame(f"this server has its {rt.fanout.max_clients} WebSocket connections open "
                                "(WS_MAX_CONNECTIONS); try again later"))  # fmt: skip
            ws.close_with(TRY_AGAIN_LATER, "too many connections")
        else:
            relay(ws, rt, queue)
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


def relay(ws: Connection, rt: Runtime, queue: ClientQueue) -> None:
    """The snapshot, then the fan-out's events and the answers to client frames, until the fan-out closes."""
    try:
        interval_s, ack = query_options(request.args)
        account = account_option(request.args)
        view = view_option(request.args)
    except ValueError as exc:
        ws.send(error_frame(str(exc)))
        interval_s, ack, account, view = 0.0, False, None, None
    login = account or rt.login()
    outbox = Outbox(ws, interval_s, login, ack)
    sent: Sender = partial(cut, view=view, outbox=outbox) if view else (lambda message: outbox.put(message.text))
    outbox.put(dumps(hello(login, int(time.time() * 1000))))
    snapshot_sent = view is not None and not view.wants_snapshot
    while not queue.closed:
        if not snapshot_sent:
            snapshot = rt.snapshot_event(account)
            if snapshot is not None:
                sent(Message.of_event(snapshot))
                snapshot_sent = True
        if outbox.waiting_for_ack():  # nothing can leave before the ack: wake up when it comes
            frame = ws.receive(timeout=outbox.wait_s())
            messages = queue.take(0)
        else:
            messages = queue.take(outbox.wait_s())
            frame = ws.receive(timeout=0)
        if snapshot_sent:  # until then the snapshot still to come supersedes them
            for message in messages:
                if account is None or message.account in (None, account):
                    sent(message)
        while frame is not None:
            handle_frame(frame, outbox, rt, account, sent)
            frame = ws.receive(timeout=0)
        outbox.flush(queue.dropped)
    ws.close_with(GOING_AWAY, "server shutting down")
