"""Goal 6: a simulated day on the demo source at 4 updates/s: the app's RSS and Redis memory over time.

The server runs the whole app (streamer, risk rules, fan-out, one WebSocket client) on a simulated
clock: every poll moves it on 250 ms and the streamer's loop stops waiting, so 24 hours of polls,
history points, heartbeats and rollup minutes pass in minutes. RSS growth is measured from the
first sample after one simulated hour (imports, caches and the first history read are warm-up).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import websocket

from bench.config import Context
from bench.infra import Sampler
from services.core.units import HOUR_MS

SAMPLE_S = 2.0
WARM_UP_H = 1.0


class Reader:
    """A WebSocket client that reads (and counts) everything, so the fan-out and the socket path are in the soak."""

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url + "?batch_ms=1000", timeout=10, skip_utf8_validation=True)
        self.ws.settimeout(0.5)
        self.frames = 0
        self.chars = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-soak-ws", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (OSError, websocket.WebSocketException):
                return
            self.frames += 1
            self.chars += len(frame)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        with contextlib.suppress(OSError, websocket.WebSocketException):
            self.ws.close(timeout=1)


def growth(rows: list[dict[str, Any]], key: str, from_h: float) -> float:
    base = next((row[key] for row in rows if row["sim_h"] >= from_h), rows[0][key])
    return round((rows[-1][key] - base) / base, 4)


def run(ctx: Context) -> dict[str, Any]:
    sizes = ctx.sizes
    ctx.redis.flush()
    ctx.log(f"soak: {sizes.soak_hours:g} simulated hours at {1000 / sizes.soak_step_ms:g} updates/s")
    with ctx.app("soak", poll_ms=10, sim_step_ms=sizes.soak_step_ms) as app:
        start_sim = app.state()["sim_ms"]
        started = time.monotonic()
        reader = Reader(app.ws_url)

        def sample() -> dict[str, Any]:
            state = app.state()
            return {
                "real_s": round(time.monotonic() - started, 1),
                "sim_h": round((state["sim_ms"] - start_sim) / HOUR_MS, 3),
                "polls": state["polls"],
                "history": state["history"],
                "rss_mb": round(app.rss() / 2**20, 1),
                "redis_used_mb": round(ctx.redis.memory()["used_memory"] / 2**20, 2),
            }

        with Sampler(sample, SAMPLE_S) as samples:
            while (app.state()["sim_ms"] - start_sim) / HOUR_MS < sizes.soak_hours:
                time.sleep(0.5)
        health = app.health()
        reader.stop()
    rows = samples.rows
    warm_up = WARM_UP_H if sizes.soak_hours >= 2 * WARM_UP_H else 0.0
    return {
        "sim_hours": rows[-1]["sim_h"],
        "real_s": rows[-1]["real_s"],
        "polls": rows[-1]["polls"],
        "updates_per_sim_s": round(rows[-1]["polls"] / (rows[-1]["sim_h"] * 3600), 2),
        "speedup": round(rows[-1]["sim_h"] * 3600 / rows[-1]["real_s"], 1),
        "history_points": rows[-1]["history"],
        "warm_up_h": warm_up,
        "rss_start_mb": rows[0]["rss_mb"],
        "rss_end_mb": rows[-1]["rss_mb"],
        "rss_growth": growth(rows, "rss_mb", warm_up),
        "rss_growth_from_start": growth(rows, "rss_mb", 0.0),
        "redis_start_mb": rows[0]["redis_used_mb"],
        "redis_end_mb": rows[-1]["redis_used_mb"],
        "ws_frames": reader.frames,
        "ws_mb": round(reader.chars / 2**20, 1),
        "ws_dropped": health["websocket"]["dropped"],
        "samples": rows,
    }
