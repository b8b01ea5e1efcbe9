"""Goal 1: from a change in the source to a WebSocket client receiving it, and to the chart redrawing it.

The timed demo source (``bench/server.py``) steps the account's ``credit`` (and so its equity) at known
random wall times, independent of the poll phase, and records when every poll read the account. So:

- change → WS: injected change time to the first plain ``/ws`` account frame carrying it;
- change → chart: injected change time to the first ``plotly_afterplot`` in headless Chromium whose
  newest point comes from the poll that read it (the page uses ``/ws?batch_ms=5&ack=1&view=page``);
- poll → WS and poll → chart: the same from the poll that read the change, i.e. without the wait for
  the next poll, which only a shorter poll interval can cut;
- the page's Dash callback requests (Resource Timing) while it watches: the live stream makes none per batch
  (the server renders the page's updates, ``views/``), so what is left is the rare reload (a new deal).

One WebSocket client and one browser watch together, as when the page is open.
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import websocket

from bench.browser import callback_requests, chart_points, install_redraw_hook, redraws, start_chromium, time_zone
from bench.config import Context
from bench.infra import summary, wait_for
from bench.server import changes_in
from services.core.protocol import ACCOUNT, Message

EQUITY_GRAPH = "equity-graph"
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class Listener:
    """A plain ``/ws`` client on a thread: (receive ms, event ts, changes it includes) of every account frame."""

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=10, skip_utf8_validation=True)
        self.ws.settimeout(0.5)
        self.rows: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-ws", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (OSError, websocket.WebSocketException):
                return
            received = time.time() * 1000
            message = Message.of_text(frame)
            if message.kind == ACCOUNT:
                self.rows.append((received, message.ts, changes_in(message.data["equity"])))

    def stop(self) -> list[tuple[float, int, int]]:
        self._stop.set()
        self._thread.join(5)
        with contextlib.suppress(OSError, websocket.WebSocketException):
            self.ws.close(timeout=1)
        return self.rows


def local_ms(text: str, tz: ZoneInfo) -> int:
    """A chart x value, the browser's wall-clock time (epoch ms, or naive text with ms), as UTC epoch ms."""
    if text.lstrip("-").isdigit():
        wall = datetime(1970, 1, 1) + timedelta(milliseconds=int(text))
    else:
        wall = datetime.strptime(text, LOCAL_FORMAT)
    return round(wall.replace(tzinfo=tz).timestamp() * 1000)


def poll_of(polls_floor: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Index of the poll an event's ts belongs to: the last poll read at or before it."""
    return np.searchsorted(polls_floor, ts, side="right") - 1


def latencies(
    timeline: dict[str, Any], ws_rows: list[tuple[float, int, int]], draws: list[tuple[float, int]], window: tuple
) -> dict[str, Any]:
    polls = np.array([p for p, _ in timeline["polls"]], dtype=float)
    floor = np.floor(polls)
    changes = np.array(timeline["changes"], dtype=float)
    start, end = window
    counted = changes[(changes >= start) & (changes <= end)]
    recv = np.array([r for r, _, _ in ws_rows], dtype=float)
    ts = np.array([t for _, t, _ in ws_rows], dtype=np.int64)
    counts = np.array([c for _, _, c in ws_rows], dtype=np.int64)
    first_change = np.searchsorted(changes, start)  # k changes shown means changes[:k] happened
    numbers = first_change + np.arange(len(counted)) + 1
    at = np.searchsorted(counts, numbers, side="left")  # the count only grows along the socket
    ws_ok = at < len(recv)
    change_ws = recv[at[ws_ok]] - counted[ws_ok]
    in_window = (recv >= start) & (recv <= end)
    poll_ws = recv[in_window] - polls[poll_of(floor, ts[in_window])]
    draw_t = np.array([t for t, _ in draws], dtype=float)
    draw_ts = np.array([x for _, x in draws], dtype=np.int64)
    reader = np.searchsorted(polls, counted, side="left")  # the poll that read each change
    has_reader = reader < len(polls)
    shown = np.full(len(counted), len(draw_t))
    shown[has_reader] = np.searchsorted(draw_ts, floor[reader[has_reader]], side="left")
    chart_ok = shown < len(draw_t)
    change_chart = draw_t[shown[chart_ok]] - counted[chart_ok]
    drawn = (draw_t >= start) & (draw_t <= end)
    poll_chart = draw_t[drawn] - polls[poll_of(floor, draw_ts[drawn])]
    return {
        "changes": len(counted),
        "change_ws_ms": summary(change_ws),
        "poll_ws_ms": summary(poll_ws),
        "change_chart_ms": summary(change_chart),
        "poll_chart_ms": summary(poll_chart),
        "undelivered_ws": int((~ws_ok).sum()),
        "undrawn": int((~chart_ok).sum()),
        "samples": {"change_ws": change_ws.round(1).tolist(), "change_chart": change_chart.round(1).tolist()},
    }


def measure(ctx: Context, interval_ms: int, window_s: float) -> dict[str, Any]:
    with ctx.app(f"latency-{interval_ms}", poll_ms=interval_ms) as app:
        driver = start_chromium()
        try:
            driver.get(app.url)
            wait_for(lambda: chart_points(driver, EQUITY_GRAPH) > 0, 60, "the equity chart")
            wait_for(lambda: install_redraw_hook(driver, EQUITY_GRAPH), 10, "the redraw hook")
            listener = Listener(app.ws_url)
            time.sleep(1.0)  # the socket's snapshot and first events
            start = time.time() * 1000
            time.sleep(window_s)
            end = time.time() * 1000
            time.sleep(interval_ms / 1000 + 1.0)  # let the window's last changes arrive
            ws_rows = listener.stop()
            tz = ZoneInfo(time_zone(driver))
            draws = [(t, local_ms(x, tz)) for t, x, _ in redraws(driver)]
            requests = [duration for begun, duration in callback_requests(driver) if start <= begun <= end]
        finally:
            driver.quit()
        timeline = app.timeline()
    return {
        "interval_ms": interval_ms,
        "window_s": window_s,
        "callback_request_ms": summary(requests),
        "callback_requests_per_s": round(len(requests) / window_s, 1),
        **latencies(timeline, ws_rows, draws, (start, end)),
    }


def run(ctx: Context) -> dict[str, Any]:
    results = {}
    for interval_ms, window_s in zip(ctx.sizes.poll_intervals_ms, ctx.sizes.latency_window_s, strict=True):
        ctx.redis.flush()
        ctx.log(f"latency: POLL_INTERVAL_MS={interval_ms}, {window_s:.0f} s")
        results[str(interval_ms)] = measure(ctx, interval_ms, window_s)
    return {"intervals": results}
