"""What one ``/ws`` socket has still to send: single events, numbered batches that wait for the page's ack, or a
page's rendered updates."""

from __future__ import annotations

import time
from typing import Any

from services.core.protocol import batch_frame, dumps, render_frame
from services.live.fanout import ClientQueue
from services.live.render import merge
from services.live.viewhub import Viewer, ViewHub

IDLE_WAIT_S = 1.0  # a socket with nothing to send sleeps until a render, a client frame or this
ACK_TIMEOUT_S = 5.0
MAX_PENDING = 2_000


class Outbox:
    """Sends events one by one, or as numbered batches (seq skips a number when events were lost).

    A batch leaves ``interval_s`` after its first event: the events of one poll (account, positions,
    orders) arrive within a few ms and travel together, and a busy stream still makes at most one
    batch per interval. With ``ack`` a batch also waits for the ack of the previous one; what
    waited for that ack leaves as soon as it comes.
    """

    def __init__(self, ws: Any, interval_s: float, login: int | None, ack: bool = False) -> None:
        self.ws = ws
        self.interval_s = interval_s
        self.login = login
        self.ack = ack
        self.pending: list[Any] = []
        self.first_at = 0.0  # monotonic time of the oldest pending item
        self.seq = 0
        self.lost = False
        self.dropped_reported = 0
        self.last_sent = 0.0
        self.awaiting: int | None = None

    def put(self, message: str) -> None:
        if not self.interval_s:
            self.ws.send(message)
            return
        self.hold(message)

    def hold(self, item: Any) -> None:
        if not self.pending:
            self.first_at = time.monotonic()
        self.pending.append(item)
        if len(self.pending) > MAX_PENDING:  # a stalled page: keep the newest, and let it know
            del self.pending[: len(self.pending) - MAX_PENDING]
            self.lost = True

    def acknowledge(self, seq: int) -> None:
        if seq == self.awaiting:
            self.awaiting = None
            self.first_at = 0.0  # whatever waited for this ack is due now

    def idle(self) -> bool:
        """Nothing waits to leave and no ack is awaited: the next message may leave as soon as it comes."""
        return not self.pending and not self.waiting_for_ack()

    def waiting_for_ack(self) -> bool:
        return self.awaiting is not None and time.monotonic() - self.last_sent < ACK_TIMEOUT_S

    def due(self) -> bool:
        """The pending batch may leave: it waited its interval, and the last one was acknowledged (or timed out)."""
        now = time.monotonic()
        return bool(self.pending) and now - self.first_at >= self.interval_s and not self.waiting_for_ack()

    def lost_since(self, dropped: int) -> bool:
        """Items were lost since the last batch: from the fan-out's queue (``dropped``) or from this one."""
        return self.lost or dropped > self.dropped_reported

    def number(self, dropped: int) -> int:
        """The next batch's seq: one more, or two when items were lost since the last one."""
        self.seq += 2 if self.lost_since(dropped) else 1
        self.lost = False
        self.dropped_reported = dropped
        self.last_sent = time.monotonic()
        self.awaiting = self.seq if self.ack else None
        return self.seq

    def flush(self, dropped: int = 0) -> None:
        """Send the pending batch when it is due."""
        if not self.due():
            return
        seq = self.number(dropped)
        events, self.pending = self.pending, []
        self.ws.send(batch_frame(self.login, int(time.time() * 1000), seq, events))

    def wait_s(self) -> float:
        """How long the socket may sleep when nothing wakes it: until the pending batch is due or the ack times
        out (the ack itself wakes it), at most ``IDLE_WAIT_S``."""
        if self.waiting_for_ack():
            return min(IDLE_WAIT_S, ACK_TIMEOUT_S - (time.monotonic() - self.last_sent))
        if not self.pending:
            return IDLE_WAIT_S
        return max(0.0, min(IDLE_WAIT_S, self.interval_s - (time.monotonic() - self.first_at)))


class RenderOutbox(Outbox):
    """A page's socket: its view's renders (``services/live/viewhub.py``) sent as numbered ``render`` frames.

    Renders that wait together merge into one frame, with this socket's own part (its charts' new points,
    ``Viewer.own``). A whole rendering drops what waited before it. When renders were lost (a queue
    overflowed) the frame is a whole rendering instead, so the page never applies changes made from rows
    it does not hold; seq still skips a number.
    """

    def __init__(self, ws: Any, interval_s: float, ack: bool, hub: ViewHub, viewer: Viewer, queue: ClientQueue):
        super().__init__(ws, interval_s, viewer.login, ack)
        self.hub, self.viewer, self.queue = hub, viewer, queue
        self.points: list[Any] = []

    def hold(self, item: Any) -> None:
        if item.full:
            self.pending = []
            if item.reload:  # the page reloads its charts: they bring these points
                self.points = []
        self.points.extend(item.points)
        super().hold(item)

    def flush(self, dropped: int = 0) -> None:
        if not self.due():
            return
        if self.lost_since(dropped) and not any(render.full for render in self.pending):
            self.hold(self.hub.join(self.viewer, self.queue))
        shared = merge(self.pending)
        first, own, rev = self.viewer.own(self.points)
        self.pending, self.points = [], []
        if not (shared.set or shared.live or shared.full or first or own):
            return  # points outside the page's charts, say: nothing to send, nothing to acknowledge
        seq = self.number(dropped)
        frame = render_frame(self.login, int(time.time() * 1000), seq, shared.full, rev, dumps(first), dumps(own),
                             shared.text())  # fmt: skip
        self.ws.send(frame)
