"""One ``/ws`` connection (simple-websocket) made safe against its client: bounded unread input, bounded sends.

simple-websocket's reader thread queues every frame a client sends until the handler reads it, and a send to a
client that reads nothing blocks for ever (the reader's pings too), so a flooding or stalled client could hold
memory and threads without limit. Here the unread input is bounded (frames past the bound are read and discarded,
and the next read raises ``Flooded``), and every send gives up after ``send_timeout_s`` with ``TimeoutError``.
The route glue is flask-sock's, which cannot take another connection class.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

from flask import Response
from simple_websocket import Server

PING_INTERVAL_S = 20
MAX_FRAME_BYTES = 64 * 1024
MAX_UNREAD_FRAMES = 64  # a page sends one ack per batch: it never has more than a few frames unread
MAX_UNREAD_SIZE = 4 * MAX_FRAME_BYTES  # characters of text frames, bytes of binary ones
CLOSE_WAIT_S = 0.5
# The connection's socket, and the call that takes the connection over from the server, as api/httpserver.py's
# gateway gives them (simple-websocket knows Werkzeug's, gunicorn's, eventlet's and gevent's environs, not cheroot's).
SOCKET_KEY = "mt5.socket"
HAND_OVER_KEY = "mt5.hand_over"
CHEROOT = "cheroot"


class Flooded(Exception):
    """The client sent more than the connection keeps unread: it is not waiting for answers."""


class InputQueue(list):
    """The frames the reader thread received and the handler has not read: at most ``MAX_UNREAD_FRAMES`` and
    ``MAX_UNREAD_SIZE``. The reader keeps reading past that (so its pongs and a close still get through), and
    counts and discards what does not fit."""

    def __init__(self, wake: Callable[[], None]) -> None:
        super().__init__()
        self.size = 0
        self.discarded = 0
        self.wake = wake
        self._lock = threading.Lock()  # the reader appends while the handler pops

    def append(self, frame: str | bytes) -> None:
        with self._lock:
            if len(self) >= MAX_UNREAD_FRAMES or self.size + len(frame) > MAX_UNREAD_SIZE:
                self.discarded += 1
            else:
                self.size += len(frame)
                super().append(frame)
        self.wake()

    def pop(self, index: Any = -1) -> str | bytes:
        with self._lock:
            frame = super().pop(index)
            self.size -= len(frame)
            return frame


class TimedSocket:
    """The connection's socket with a send timeout: each send is whole (simple-websocket ignores what a plain
    ``send`` returns, and with a timeout it may send part), one at a time (the reader's pongs and the handler's
    frames never interleave), and raises ``TimeoutError`` when the client does not take it in time."""

    def __init__(self, sock: socket.socket, send_timeout_s: float) -> None:
        sock.settimeout(send_timeout_s)  # the reader only calls recv once select said there is data
        self._sock = sock
        self._sending = threading.Lock()

    def send(self, data: bytes) -> int:
        with self._sending:
            self._sock.sendall(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def no_wake() -> None:
    """Until the handler says how it sleeps, it reads the socket itself."""


class Connection(Server):
    """A server-side WebSocket whose client can neither fill the server's memory nor hold its threads.

    ``wake`` is called by the reader thread after each client frame and when the connection ends, so the handler
    can sleep on one thing (its fan-out queue) instead of waking every few ms to look at the socket too.
    """

    def __init__(self, environ: dict[str, Any], send_timeout_s: float) -> None:
        self.send_timeout_s = send_timeout_s
        self.wake: Callable[[], None] = no_wake
        own = environ.get(SOCKET_KEY)
        if own is not None:  # a duplicate: simple-websocket closes its socket when done, and cheroot its own after
            environ = {**environ, "werkzeug.socket": own.dup()}
        super().__init__(environ, ping_interval=PING_INTERVAL_S, max_message_size=MAX_FRAME_BYTES)
        if own is not None:
            self.mode = CHEROOT

    def handshake(self) -> None:
        """Before the reader thread starts: from here on every send and every received frame is bounded."""
        self.sock = TimedSocket(self.sock, self.send_timeout_s)
        self.input_buffer = InputQueue(lambda: self.wake())
        super().handshake()

    def _thread(self) -> None:
        """simple-websocket's reader loop; its end (the client went, a close) wakes the handler too."""
        try:
            super()._thread()
        finally:
            self.wake()

    def receive(self, timeout: float | None = None) -> Any:
        if self.input_buffer.discarded:
            raise Flooded(f"more than {MAX_UNREAD_FRAMES} frames (or {MAX_UNREAD_SIZE // 1024} KiB) sent and "
                          "not read yet: wait for the answers before sending more")  # fmt: skip
        return super().receive(timeout)

    def close_with(self, code: int, reason: str) -> None:
        """Close frame, the client's answer (up to ``CLOSE_WAIT_S``), then the socket shut down for good.

        Without the shutdown the dev server would write its HTTP response bytes into the
        upgraded connection, which browsers report as an invalid frame.
        """
        self.close(reason=code, message=reason)
        self.thread.join(CLOSE_WAIT_S)
        self.drop()

    def drop(self) -> None:
        """Shut the socket: a blocked send returns at once, and the reader thread ends."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


class HandedOver(Response):
    """What the WSGI server gets back once the socket is done with (flask-sock's answer): gunicorn and cheroot must
    write nothing more and close the connection; Werkzeug writes a response into the shut socket and moves on."""

    def __init__(self, server_mode: str) -> None:
        super().__init__()
        self.server_mode = server_mode

    def __call__(self, environ: Any, start_response: Any) -> Any:
        if self.server_mode == "gunicorn":
            raise StopIteration
        if self.server_mode == CHEROOT:
            environ[HAND_OVER_KEY]()
            return []
        return super().__call__(environ, start_response)
