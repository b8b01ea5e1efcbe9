"""The ``/ws`` wire format, in one place: event names, the event shape, the frames each side sends, the version.

Every message on Redis pub/sub and every event on ``/ws`` is ``{type, account, ts, data}`` (``Event``). The
streamer publishes an account's events on its own channel (``<prefix>:<login>:events``), so the fan-out knows
the account from the channel and parses each message once (``Message``), never once per client.

A socket's first frame says hello with ``PROTOCOL_VERSION`` (inside the first batch when it batches). Plain
clients then get events, one per frame or as numbered ``batch`` frames; a page (``?view=page`` or
``?view=overview``) gets ``render`` frames instead: its changes, rendered on the server, ready to apply
(``render_frame``). The page answers each with an ``ack`` that carries its view (``ClientFrame``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

PROTOCOL_VERSION = 2

# Events: what the streamer publishes per account, and what this process adds (account None).
SNAPSHOT = "snapshot"
ACCOUNT = "account"
POSITIONS = "positions"
ORDERS = "orders"
DEALS = "deals"
STATUS = "status"
HEARTBEAT = "heartbeat"
ALERT = "alert"
ACCOUNTS = "accounts"  # the accounts monitor's rows: which collectors went quiet
ERROR = "error"
HELLO = "hello"
GRIDS = (POSITIONS, ORDERS)

# Frames that carry more than one event, or a page's updates.
BATCH = "batch"
RENDER = "render"

# The page views a socket may ask for (``?view=``): rendered updates instead of events.
PAGE = "page"
OVERVIEW = "overview"
VIEWS = (PAGE, OVERVIEW)

# What a client may send.
PING = "ping"
ACK = "ack"
VIEW = "view"
CLIENT_KINDS = (PING, SNAPSHOT, ACK, VIEW)
MAX_FRAME_DEPTH = 32  # a client frame is one flat object; json.loads recurses once per level


class Event(TypedDict):
    type: str
    account: int | None
    ts: int
    data: Any


class ClientFrame(TypedDict):
    """``ack``: the batch ``seq`` taken, a snapshot asked for (``resync``), the page's view; ``view``: the view
    alone (with the last ``seq`` taken, if any); ``ping`` and ``snapshot`` carry nothing else."""

    type: str
    seq: NotRequired[int]
    resync: NotRequired[bool]
    view: NotRequired[dict[str, Any]]


def event(kind: str, login: int | None, ts_ms: int, data: Any) -> Event:
    """The one message shape on Redis and on ``/ws``."""
    return {"type": kind, "account": login, "ts": ts_ms, "data": data}


def dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False)


def hello(login: int | None, ts_ms: int) -> Event:
    return event(HELLO, login, ts_ms, {"protocol": PROTOCOL_VERSION})


@dataclass(frozen=True, slots=True)
class Message:
    """One event as the fan-out received it: its text, sent as is to plain clients, and its fields, parsed once
    for every view. ``kind`` is None for a message that is no event (another program's, on the same channel)."""

    text: str
    kind: str | None = None
    account: int | None = None
    ts: int = 0
    data: Any = None

    @classmethod
    def of_text(cls, text: str, account: int | None = None) -> Message:
        """A published message; ``account`` comes from its channel."""
        try:
            parsed = json.loads(text)
        except ValueError:
            return cls(text, account=account)
        if not isinstance(parsed, dict) or not isinstance(parsed.get("type"), str):
            return cls(text, account=account)
        ts = parsed.get("ts")
        return cls(text, parsed["type"], account, ts if isinstance(ts, int) else 0, parsed.get("data"))

    @classmethod
    def of_event(cls, message: Event) -> Message:
        return cls(dumps(message), message["type"], message["account"], message["ts"], message["data"])


def batch_frame(login: int | None, ts_ms: int, seq: int, events: list[str]) -> str:
    """Numbered events, each as published (no parse, no re-encoding)."""
    header = dumps({"type": BATCH, "account": login, "ts": ts_ms})[:-1]
    return f'{header},"data":{{"seq":{seq},"events":[{",".join(events)}]}}}}'


def render_frame(
    login: int | None, ts_ms: int, seq: int, full: bool, rev: Any, first: str, own: str, shared: str
) -> str:
    """A page's updates: ``{id: {prop: value}}`` to set with ``dash_clientside.set_props``.

    ``first`` is applied at once (the main chart's new points), the rest one browser task later: ``own`` (this
    socket's), then ``shared`` (``{"set": …, "live": …}``, rendered once for every page of the same view;
    ``live`` is what a replay freezes). ``first`` and ``own`` apply only while the page holds ``rev`` (the
    charts they extend; None: whatever it holds). ``full``: the whole page (with ``protocol``, the version),
    after which the page is in sequence again. The parts are JSON text already, so a rendering shared by
    many sockets is encoded once.
    """
    header = dumps({"type": RENDER, "account": login, "ts": ts_ms})[:-1]
    head = dumps({"seq": seq, "full": full, "rev": rev, **({"protocol": PROTOCOL_VERSION} if full else {})})[:-1]
    return f'{header},"data":{head},"first":{first},"own":{own},"shared":{shared}}}}}'


def depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed frame (a scalar is 0)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


class BadFrame(ValueError):
    """What was wrong with a client's frame, in words for the error frame."""


def client_frame(frame: str | bytes) -> ClientFrame:
    """A client's frame as a message; raises BadFrame saying what is wrong with it."""
    if isinstance(frame, bytes):
        raise BadFrame("binary frames are not accepted; send JSON text")
    too_deep = f"frame is nested deeper than {MAX_FRAME_DEPTH} levels"
    try:
        message = json.loads(frame)  # a client frame is at most 64 KiB (api/wsconn.py)
    except RecursionError:  # about 1,000 levels
        raise BadFrame(too_deep) from None
    except ValueError:
        raise BadFrame("frame is not valid JSON") from None
    if depth(message) > MAX_FRAME_DEPTH:
        raise BadFrame(too_deep)
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise BadFrame('expected a JSON object with a "type", e.g. {"type": "ping"}')
    kind = message["type"]
    if kind not in CLIENT_KINDS:
        raise BadFrame(f"unknown message type {kind[:40]!r}; expected one of {', '.join(map(repr, CLIENT_KINDS))}")
    seq = message.get("seq")
    if kind == ACK and not isinstance(seq, int):
        raise BadFrame('an ack needs the integer "seq" of the batch it acknowledges')
    if kind == VIEW and not isinstance(message.get("view"), dict):
        raise BadFrame('a view frame needs its "view" object')
    if "view" in message and not isinstance(message["view"], dict):
        raise BadFrame('"view" must be an object')
    return message  # type: ignore[return-value]
