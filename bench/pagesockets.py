"""Many dashboard page sockets in one worker process, each speaking ``/ws`` exactly as the page does.

``python -m bench.pagesockets URL VIEW N OUT`` connects N sockets to URL (the page's own ``/ws`` URL, with its
``batch_ms=5&ack=1&view=page&tz=…``), sends each the page's view frame VIEW (JSON text, as a real page sent
it), prints ``connected N``, then answers every ``render`` frame as ``assets/live.js`` does: an ack of its
``seq``, numbered ``n`` like the page's sends, with ``resync`` after a gap at most once per
``RESYNC_AFTER_FRAMES``. Frames are parsed with ``services/core/protocol.py``. Each time a socket's Equity KPI
text shows more injected changes (``bench/server.py`` ``changes_in``) it records (socket, changes, receive ms).
A ``start`` line on stdin zeroes the counts (the window begins), ``end`` keeps them (it ends); any other line
ends the run and writes the rows and the window's counts to the JSON file OUT. Two such workers hold 500 page
sockets on 2 cores.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import sys
import time
from typing import Any

import websocket

from bench.server import changes_in
from layouts import ids
from services.core.protocol import ACK, RENDER, Message, dumps

RESYNC_AFTER_FRAMES = 20  # as assets/live.js
EQUITY_KPI = ids.kpi_value("equity")


def money_value(text: str) -> float:
    """The number a money text shows (``$1,234.56``, ``1,234.56 EUR``)."""
    return float("".join(ch for ch in text if ch.isdigit() or ch in ".-"))


def equity_changes(data: dict[str, Any]) -> int | None:
    """How many injected changes a render frame's Equity KPI text shows, None when the frame does not set it."""
    text = data["shared"]["live"].get(EQUITY_KPI, {}).get("children")
    return changes_in(money_value(text)) if isinstance(text, str) else None


class PageSocket:
    """One page's socket and the state ``assets/live.js`` keeps for it."""

    def __init__(self, url: str, view: str) -> None:
        self.ws = websocket.create_connection(url, timeout=30, skip_utf8_validation=True)
        self.sent = 0
        self.last_seq: int | None = None
        self.asked_at: int | None = None
        self.shown = -1
        self.send(json.loads(view))

    def send(self, message: dict[str, Any]) -> None:
        self.sent += 1
        self.ws.send(dumps({**message, "n": self.sent}))

    def take(self, data: dict[str, Any]) -> bool:
        """Acknowledge a render frame as the page does; True when it skipped a seq."""
        seq, full = data["seq"], data["full"]
        gap = not full and self.last_seq is not None and seq != self.last_seq + 1
        self.last_seq = seq
        if full:
            self.asked_at = None
        ack: dict[str, Any] = {"type": ACK, "seq": seq}
        if gap and (self.asked_at is None or seq - self.asked_at >= RESYNC_AFTER_FRAMES):
            ack["resync"] = True
            self.asked_at = seq
        self.send(ack)
        return gap


def receive(page: PageSocket) -> Message | None:
    """The next frame as a message; a ping is answered (by websocket-client) without waiting for a data frame,
    which would stall every other socket of the loop."""
    opcode, frame = page.ws.recv_data_frame(True)
    if opcode == websocket.ABNF.OPCODE_CLOSE:
        code = int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
        raise websocket.WebSocketConnectionClosedException(f"closed by the server: {code} {frame.data[2:]!r}")
    if opcode != websocket.ABNF.OPCODE_TEXT:
        return None
    data = frame.data
    return Message.of_text(data.decode() if isinstance(data, bytes) else data)


def run(url: str, view: str, count: int) -> dict[str, Any]:
    """Connect the sockets one by one while reading those already open (an unread socket misses its protocol
    pings and is closed), then read and acknowledge every socket until stdin says stop."""
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin, selectors.EVENT_READ, None)
    sockets: list[PageSocket] = []
    rows: list[tuple[int, int, float]] = []
    counts = dict.fromkeys(("frames", "chars", "full", "gaps"), 0)
    window: dict[str, int] | None = None  # the counts when the window ended
    failed = closed = 0
    ends: dict[str, int] = {}  # why sockets ended, by error text
    while True:
        if len(sockets) + failed < count:
            try:
                sockets.append(PageSocket(url, view))
                selector.register(sockets[-1].ws.sock, selectors.EVENT_READ, len(sockets) - 1)
            except (OSError, websocket.WebSocketException):
                failed += 1
            if len(sockets) + failed == count:
                print(f"connected {len(sockets)}", flush=True)
        for key, _ in selector.select(timeout=0 if len(sockets) + failed < count else 1.0):
            if key.data is None:
                line = sys.stdin.readline().strip()
                if line == "start":
                    counts = dict.fromkeys(counts, 0)
                elif line == "end":
                    window = dict(counts)
                else:
                    close(sockets)
                    kept = window or counts
                    return {
                        "rows": rows,
                        **kept,
                        "closed_by_server": closed,
                        "ends": ends,
                        "sockets": len(sockets),
                        "failed": failed,
                    }
                continue
            page = sockets[key.data]
            try:
                message = receive(page)
                received_ms = time.time() * 1000
                if message is None or message.kind != RENDER:
                    continue
                counts["frames"] += 1
                counts["chars"] += len(message.text)
                counts["full"] += bool(message.data["full"])
                counts["gaps"] += page.take(message.data)
            except (OSError, websocket.WebSocketException) as exc:
                selector.unregister(key.fileobj)
                closed += 1
                ends[f"{type(exc).__name__}: {exc}"[:120]] = ends.get(f"{type(exc).__name__}: {exc}"[:120], 0) + 1
                continue
            shown = equity_changes(message.data)
            if shown is not None and shown > page.shown:
                page.shown = shown
                rows.append((key.data, shown, received_ms))


def close(sockets: list[PageSocket]) -> None:
    """A close frame without waiting for the answer: 500 polite closes take too long."""
    for page in sockets:
        with contextlib.suppress(OSError, websocket.WebSocketException):
            page.ws.send_close()
        page.ws.shutdown()


def main() -> None:
    url, view, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    result = run(url, view, count)
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
