"""What one ``/ws`` socket has still to send: single events, or numbered batches that wait for the page's ack."""

from __future__ import annotations

import time
from typing import Any

from services.protocol import batch_frame

SEND_WAIT_S = 0.1
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

    def waiting_for_ack(self) -> bool:
        return self.awaiting is not None and time.monotonic() - self.last_sent < ACK_TIMEOUT_S

    def due(self) -> bool:
        """The pending batch may leave: it waited its interval, and the last one was acknowledged (or timed out)."""
        now = time.monotonic()
        return bool(self.pending) and now - self.first_at >= self.interval_s and not self.waiting_for_ack()

    def number(self, dropped: int) -> tuple[int, bool]:
        """The next batch's seq, and whether items were lost since the last one (then seq skips one)."""
        lost = self.lost or dropped > self.dropped_reported
        self.seq += 2 if lost else 1
        self.lost = False
        self.dropped_reported = dropped
        self.last_sent = time.monotonic()
        self.awaiting = self.seq if self.ack else None
        return self.seq, lost

    def flush(self, dropped: int = 0) -> None:
        """Send the pending batch when it is due."""
        if not self.due():
            return
        seq, _ = self.number(dropped)
        events, self.pending = self.pending, []
        self.ws.send(batch_frame(self.login, int(time.time() * 1000), seq, events))

    def wait_s(self) -> float:
        """How long the socket may sleep: until the pending batch is due, the ack times out, or a short tick."""
        if self.waiting_for_ack():
            return min(SEND_WAIT_S, ACK_TIMEOUT_S - (time.monotonic() - self.last_sent))
        if not self.pending:
            return SEND_WAIT_S
        return max(0.0, min(SEND_WAIT_S, self.interval_s - (time.monotonic() - self.first_at)))
