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
import json
import logging
import re
import time
from itertools import accumulate
from typing import Any

from flask import Flask, Response, current_app, request
from simple_websocket import ConnectionClosed

from api.params import parse_int
from api.wsconn import Connection, Flooded, HandedOver
from services.fanout import ClientQueue
from services.runtime import Runtime
from services.store import dumps, event

log = logging.getLogger(__name__)

SEND_WAIT_S = 0.1
GOING_AWAY = 1001
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
MAX_BATCH_MS = 5000
ACK_TIMEOUT_S = 5.0
MAX_PENDING = 2_000
MAX_FRAME_DEPTH = 32  # a client frame is one flat object; json.loads recurses once per level


def init_app(app: Flask) -> None:
    app.add_url_rule("/ws", "ws", socket_view, websocket=True)


def error_frame(message: str) -> str:
    return dumps(event("error", None, int(time.time() * 1000), {"message": message}))


JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*+"?')  # possessive: one pass; an unclosed string runs to the end
BRACKETS = re.compile(r"[^\[\]{}]+")
BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def too_deep(frame: str) -> bool:
    """Nested deeper than ``MAX_FRAME_DEPTH``, which ``json.loads`` would meet with a RecursionError at about
    1,000 levels. A frame with few opening brackets cannot be deep; else its brackets outside strings count."""
    if frame.count("[") + frame.count("{") <= MAX_FRAME_DEPTH:
        return False
    brackets = BRACKETS.sub("", JSON_STRING.sub("", frame))
    return max(accumulate(map(BRACKET_STEP.__getitem__, brackets)), default=0) > MAX_FRAME_DEPTH


def parse_frame(frame: Any) -> tuple[dict[str, Any] | None, str | None]:
    """A client frame as a message, or the error frame that says what was wrong with it."""
    if isinstance(frame, bytes):
        return None, error_frame("binary frames are not accepted; send JSON text")
    if too_deep(frame):
        return None, error_frame(f"frame is nested deeper than {MAX_FRAME_DEPTH} levels")
    try:
        message = json.loads(frame)
    except ValueError:
        return None, error_frame("frame is not valid JSON")
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None, error_frame('expected a JSON object with a "type", e.g. {"type": "ping"}')
    if message["type"] not in ("ping", "snapshot", "ack"):
        return None, error_frame(f"unknown message type {message['type'][:40]!r}; expected 'ping', 'snapshot' or 'ack'")
    if message["type"] == "ack" and not isinstance(message.get("seq"), int):
        return None, error_frame('an ack needs the integer "seq" of the batch it acknowledges')
    return message, None


def snapshot_or_error(rt: Runtime, account: int | None = None) -> str:
    snapshot = rt.snapshot_event(account)
    return dumps(snapshot) if snapshot else error_frame("no snapshot yet: the MT5 source has not answered")


ACCOUNT_FIELD = re.compile(r'"account":(null|\d+)')


def account_of(message: str) -> int | None:
    """The account of an event as published (``dumps`` writes ``type``, then ``account``): no JSON parse per client."""
    found = ACCOUNT_FIELD.search(message, 0, 120)
    return None if found is None or found.group(1) == "null" else int(found.group(1))


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
    "positions": ("ticket", "symbol", "type", "volume", "price_open", "price_current", "sl", "tp", "swap", "profit",
                  "time_utc_ms"),
    "orders": ("ticket", "symbol", "type", "volume_current", "price_open", "price_current", "sl", "tp",
               "time_setup_utc_ms"),
}  # fmt: skip
PAGE_DEAL = ("ticket", "type", "profit", "time_utc_ms")


def _cut(record: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: record[name] for name in fields if name in record}


class PageView:
    """``?view=page``: each event cut down to what the dashboard shows, and its grids as changes.

    An account event keeps the KPI fields; a ``positions`` or ``orders`` event becomes the changes
    from the rows this socket sent before: ``{"set": [[index, {changed cells}], …], "remove": [index,
    …], "add": [rows], "count": n}`` (plus ``"pl"``, profit and swap together, for positions). The
    page holds the same rows in the same order (those of the last snapshot, then every change in
    turn), so it applies them by index: ``set`` and ``remove`` (highest first) address the rows as
    they were, ``add`` appends. A snapshot starts the rows afresh. The page applies changes only
    while its ``seq`` has no gap, and a gap makes it ask for a snapshot.
    """

    wants_snapshot = True

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in PAGE_ROWS}

    def event(self, message: str) -> str:
        try:
            parsed = json.loads(message)
        except ValueError:
            return message
        if not isinstance(parsed, dict) or not isinstance(parsed.get("data"), dict | list):
            return message
        kind, data = parsed.get("type"), parsed["data"]
        if kind == "snapshot" and isinstance(data, dict):
            for name, fields in PAGE_ROWS.items():
                self.rows[name] = [_cut(row, fields) for row in data.get(name) or [] if isinstance(row, dict)]
                data[name] = self.rows[name]
        elif kind == "account" and isinstance(data, dict):
            parsed["data"] = _cut(data, PAGE_ACCOUNT)
        elif kind in PAGE_ROWS and isinstance(data, list):
            parsed["data"] = self.changes(kind, [_cut(row, PAGE_ROWS[kind]) for row in data if isinstance(row, dict)])
        elif kind == "deals" and isinstance(data, list):
            parsed["data"] = [_cut(deal, PAGE_DEAL) for deal in data if isinstance(deal, dict)]
        else:
            return message
        return dumps(parsed)

    def changes(self, kind: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        old = self.rows[kind]
        by_ticket = {row.get("ticket"): row for row in rows}
        before = {row.get("ticket") for row in old}
        cells = []
        for index, row in enumerate(old):
            new = by_ticket.get(row.get("ticket"))
            changed = {name: value for name, value in new.items() if row.get(name) != value} if new else {}
            if changed:
                cells.append([index, changed])
        remove = [index for index in range(len(old) - 1, -1, -1) if old[index].get("ticket") not in by_ticket]
        add = [row for row in rows if row.get("ticket") not in before]
        self.rows[kind] = [by_ticket[row.get("ticket")] for row in old if row.get("ticket") in by_ticket] + add
        change: dict[str, Any] = {"set": cells, "remove": remove, "add": add, "count": len(rows)}
        if kind == "positions":
            change["pl"] = round(sum(row.get("profit", 0.0) + row.get("swap", 0.0) for row in rows), 8)
        return change


OVERVIEW_ACCOUNT = ("login", "balance", "equity", "profit", "margin", "margin_level", "currency")
PASS_THROUGH = ('{"type":"accounts",', '{"type":"error",', '{"type":"status",')


class OverviewView:
    """``?view=overview``: the overview redraws from Redis at each frame, so a frame needs only the account
    figures (cut short) and the monitor's account states; snapshots, grids and deals are dropped."""

    wants_snapshot = False

    def event(self, message: str) -> str | None:
        if message.startswith(PASS_THROUGH):
            return message
        if not message.startswith('{"type":"account",'):
            return None
        parsed = json.loads(message)
        if isinstance(parsed.get("data"), dict):
            parsed["data"] = _cut(parsed["data"], OVERVIEW_ACCOUNT)
        return dumps(parsed)


VIEWS: dict[str, type[PageView] | type[OverviewView]] = {"page": PageView, "overview": OverviewView}


class Outbox:
    """Sends events one by one, or as numbered batches (seq skips a number when events were lost).

    A batch leaves ``interval_s`` after its first event: the events of one poll (account, positions,
    orders) arrive within a few ms and travel together, and a busy stream still makes at most one
    batch per interval. With ``ack`` a batch also waits for the ack of the previous one; what
    waited for that ack leaves as soon as it comes.
    """

    def __init__(
        self,
        ws: Any,
        interval_s: float,
        login: int | None,
        ack: bool = False,
        view: PageView | OverviewView | None = None,
    ) -> None:
        self.ws = ws
        self.view = view
        self.interval_s = interval_s
        self.login = login
        self.ack = ack
        self.pending: list[str] = []
        self.first_at = 0.0  # monotonic time of the oldest pending event
        self.seq = 0
        self.lost = False
        self.dropped_reported = 0
        self.last_sent = 0.0
        self.awaiting: int | None = None

    def put(self, message: str) -> None:
        if self.view is not None:
            cut = self.view.event(message)
            if cut is None:
                return
            message = cut
        if not self.interval_s:
            self.ws.send(message)
            return
        if not self.pending:
            self.first_at = time.monotonic()
        self.pending.append(message)
        if len(self.pending) > MAX_PENDING:  # a stalled page: keep the newest, and let it know
            del self.pending[: len(self.pending) - MAX_PENDING]
            self.lost = True

    def acknowledge(self, seq: int) -> None:
        if seq == self.awaiting:
            self.awaiting = None
            self.first_at = 0.0  # whatever waited for this ack is due now

    def waiting_for_ack(self) -> bool:
        return self.awaiting is not None and time.monotonic() - self.last_sent < ACK_TIMEOUT_S

    def flush(self, dropped: int = 0) -> None:
        """Send the pending batch when it is due and the last one was acknowledged (or timed out)."""
        now = time.monotonic()
        if not self.pending or now - self.first_at < self.interval_s or self.waiting_for_ack():
            return
        self.lost = self.lost or dropped > self.dropped_reported
        self.seq += 2 if self.lost else 1
        self.lost = False
        self.dropped_reported = dropped
        self.last_sent = now
        self.awaiting = self.seq if self.ack else None
        events = ",".join(self.pending)
        self.pending = []
        header = dumps({"type": "batch", "account": self.login, "ts": int(time.time() * 1000)})[:-1]
        self.ws.send(f'{header},"data":{{"seq":{self.seq},"events":[{events}]}}}}')

    def wait_s(self) -> float:
        """How long the socket may sleep: until the pending batch is due, the ack times out, or a short tick."""
        if self.waiting_for_ack():
            return min(SEND_WAIT_S, ACK_TIMEOUT_S - (time.monotonic() - self.last_sent))
        if not self.pending:
            return SEND_WAIT_S
        return max(0.0, min(SEND_WAIT_S, self.interval_s - (time.monotonic() - self.first_at)))


def handle_frame(frame: Any, outbox: Outbox, rt: Runtime, account: int | None = None) -> None:
    message, error = parse_frame(frame)
    if message is None:
        outbox.put(error or "")
    elif message["type"] == "ping":
        outbox.put(dumps(event("heartbeat", rt.login(), int(time.time() * 1000), {"pong": True})))
    elif message["type"] == "snapshot":
        outbox.put(snapshot_or_error(rt, account))
    else:
        outbox.acknowledge(message["seq"])
        if message.get("resync") is True:
            outbox.put(snapshot_or_error(rt, account))


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
    outbox = Outbox(ws, interval_s, account or rt.login(), ack, view)
    snapshot_sent = view is not None and not view.wants_snapshot
    while not queue.closed:
        if not snapshot_sent:
            snapshot = rt.snapshot_event(account)
            if snapshot is not None:
                outbox.put(dumps(snapshot))
                snapshot_sent = True
        if outbox.waiting_for_ack():  # nothing can leave before the ack: wake up when it comes
            frame = ws.receive(timeout=outbox.wait_s())
            messages = queue.take(0)
        else:
            messages = queue.take(outbox.wait_s())
            frame = ws.receive(timeout=0)
        if snapshot_sent:  # until then the snapshot still to come supersedes them
            for message in messages:
                if account is None or account_of(message) in (None, account):
                    outbox.put(message)
        while frame is not None:
            handle_frame(frame, outbox, rt, account)
            frame = ws.receive(timeout=0)
        outbox.flush(queue.dropped)
    ws.close_with(GOING_AWAY, "server shutting down")
