"""A webhook endpoint a test scripts answer by answer: bytes that are not HTTP, a 500, no answer, a dropped
connection, or a 200; it records what it answered and what it accepted."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from typing import Any

ANSWERS = {
    "garbage": b"\x00garbage, not HTTP\r\n\r\n",
    "500": b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "200": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
}


def read_request(conn: socket.socket) -> tuple[dict[str, str], bytes]:
    """The headers (lower-case names) and body of one HTTP request."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65_536)
        if not chunk:
            return {}, b""
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    while len(body) < int(headers.get("content-length", "0")):
        chunk = conn.recv(65_536)
        if not chunk:
            break
        body += chunk
    return headers, body


class Endpoint:
    """Each request takes the next answer of ``script`` (garbage, 500, hang, close, 200); then ``default``.

    ``hang`` never answers (the sender times out); ``close`` drops the connection without a word.
    ``port`` 0 takes a free one; a given port lets a test start the endpoint where a sender already knocks.
    """

    def __init__(self, script: list[str] | None = None, *, default: str = "200", port: int = 0) -> None:
        self.script = list(script or [])
        self.default = default
        self.answered: list[str] = []
        self.accepted: list[dict[str, Any]] = []  # {"key": Idempotency-Key, "body": the JSON}
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.server = socket.create_server(("127.0.0.1", port))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def ids(self) -> list[str]:
        """The alert ids accepted with a 200, in order (a redelivery appears twice)."""
        with self.lock:
            return [request["body"]["data"]["id"] for request in self.accepted]

    def stop(self) -> None:
        self.closing.set()
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the accept() (closing alone does not on Linux)
        self.server.close()
        self.thread.join(5)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            headers, body = read_request(conn)
            with self.lock:
                answer = self.script.pop(0) if self.script else self.default
                self.answered.append(answer)
                if answer == "200":
                    self.accepted.append({"key": headers.get("idempotency-key"), "body": json.loads(body)})
            if answer == "hang":
                conn.settimeout(0.1)
                while not self.closing.is_set():
                    try:
                        if not conn.recv(1):
                            return  # the sender gave up
                    except TimeoutError:
                        continue
            elif answer != "close":
                conn.sendall(ANSWERS[answer])
