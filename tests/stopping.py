"""What a clean stop leaves behind, as a page and the stores see it: the page's close code, the last point and its
minute's rollup in Redis and in the archive (``python app.py`` and gunicorn alike)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import redis
import websocket

from services.core.units import MINUTE_MS
from services.storage.archive import FILE_NAME
from tests.helpers import after_hello, wait_until

LOGIN = 5_000_001  # the demo account's
LEADER_KEY = f"mt5:{LOGIN}:leader"


class Page:
    """A ``/ws`` client reading on a thread of its own, as an open tab does: the role of the worker that serves it
    (from the first frame, the snapshot; None when the worker refused it) and the close code it got."""

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=10)
        first = after_hello(self.ws)  # the snapshot, or the error frame of a worker whose sockets are all taken
        self.role: str | None = first["data"]["status"]["role"] if first["type"] == "snapshot" else None
        self.close_code: int | None = None
        self.ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                opcode, data = self.ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.close_code = int.from_bytes(data[:2], "big")
                    return
        except (websocket.WebSocketException, OSError):
            return
        finally:
            self.ended.set()


def history_ts(client: redis.Redis, newest: int | str = "+") -> list[int]:
    """The times of the account's history points up to ``newest`` (UTC ms)."""
    return [int(entry_id.split("-")[0]) for entry_id, _ in client.xrange(f"mt5:{LOGIN}:history", "-", newest)]


def live_history(client: redis.Redis, points: int) -> None:
    """Wait for ``points`` polled points (the demo's simulated past comes first, all at once)."""
    since = int(time.time() * 1000)
    wait_until(lambda: len(history_ts(client)) - len(history_ts(client, since)) >= points, 10, "live history")


def archived(data_dir: Path, sql: str, *args: Any) -> Any:
    with sqlite3.connect(data_dir / FILE_NAME) as db:
        return db.execute(sql, args).fetchone()


def assert_flushed(client: redis.Redis, data_dir: Path, last_poll_ms: int | str = "+") -> None:
    """The last point of the streamer that stopped (its last poll at ``last_poll_ms``) is in Redis and in the
    archive, and so is its unfinished minute's rollup: Redis gets a minute's rollup when the next minute's first
    point comes, or from a clean stop."""
    last = history_ts(client, last_poll_ms)[-1]
    minute = last - last % MINUTE_MS
    rolled = client.xrange(f"mt5:{LOGIN}:history:1m", minute, minute + MINUTE_MS - 1)
    assert any(max(int(e["low_ts"]), int(e["high_ts"])) <= last for _, e in rolled), "the minute's rollup in Redis"
    assert archived(data_dir, "SELECT ts FROM history WHERE login = ? AND ts = ?", LOGIN, last) == (last,)
    row = archived(data_dir, "SELECT last_ts FROM rollups WHERE login = ? AND span_ms = ? AND start = ?",
                   LOGIN, MINUTE_MS, minute)  # fmt: skip
    assert row is not None and row[0] >= last, "the minute's rollup in the archive"
