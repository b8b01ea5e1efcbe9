"""Many plain ``/ws`` clients in one worker process, driven by one ``select`` loop (no thread per socket).

``python -m bench.wsclients URL[,URL…] N OUT`` connects N clients one after another (client i to the
URL i modulo their number), prints ``connected N``,
then records (client, event ts, receive time) for every ``account`` event. A ``start`` line on stdin
zeroes the frame and byte counts (the window begins); any other line ends the run: the sockets close
and the rows, counts and errors go to the JSON file OUT.
The suite runs a few such workers so that reading 500 sockets does not starve on one core.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import sys
import time
from typing import Any

import websocket

from services.core.protocol import ACCOUNT, Message


def connect(urls: list[str], count: int) -> tuple[list[websocket.WebSocket], int]:
    sockets, failed = [], 0
    for index in range(count):
        try:
            sockets.append(websocket.create_connection(urls[index % len(urls)], timeout=30, skip_utf8_validation=True))
        except (OSError, websocket.WebSocketException):
            failed += 1
    return sockets, failed


def record(sockets: list[websocket.WebSocket]) -> dict[str, Any]:
    """Read every socket until stdin says stop; each frame parsed as the protocol defines it."""
    selector = selectors.DefaultSelector()
    for index, ws in enumerate(sockets):
        selector.register(ws.sock, selectors.EVENT_READ, index)
    selector.register(sys.stdin, selectors.EVENT_READ, None)
    rows: list[tuple[int, int, float]] = []
    frames = [0] * len(sockets)
    chars = [0] * len(sockets)
    closed = 0
    while True:
        for key, _ in selector.select(timeout=1.0):
            if key.data is None:
                if sys.stdin.readline().strip() == "start":
                    frames, chars = [0] * len(sockets), [0] * len(sockets)
                    continue
                return {"rows": rows, "frames": frames, "chars": chars, "closed_by_server": closed}
            index = key.data
            try:
                frame = sockets[index].recv()
            except (OSError, websocket.WebSocketException):
                selector.unregister(key.fileobj)
                closed += 1
                continue
            received_ms = time.time() * 1000
            frames[index] += 1
            chars[index] += len(frame)
            message = Message.of_text(frame)
            if message.kind == ACCOUNT:
                rows.append((index, message.ts, received_ms))


def main() -> None:
    urls, count, out = sys.argv[1].split(","), int(sys.argv[2]), sys.argv[3]
    sockets, failed = connect(urls, count)
    print(f"connected {len(sockets)}", flush=True)
    result = record(sockets)
    for ws in sockets:  # a close frame without waiting for the answer: 500 polite closes take too long
        with contextlib.suppress(OSError, websocket.WebSocketException):
            ws.send_close()
        ws.shutdown()
    with open(out, "w", encoding="utf-8") as handle:
        json.dump({**result, "failed": failed}, handle)


if __name__ == "__main__":
    main()
