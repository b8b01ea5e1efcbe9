"""Goal 4: a million stored equity points: first-paint payload and time, and re-fetching a zoomed range.

The points go in through ``Store.append_history`` (pipelined XADD and the rollup) in chunks. Then the
app's chart callback (``load_charts`` → ``callbacks.charts.chart_outputs``) is requested over HTTP as
the page's Dash renderer requests it (built from the app's ``/_dash-dependencies``): for the whole
range ("All"), for the page's default ("Today"),
and for a zoom into one hour (raw points) and one day (per-minute rollup). Payload is the response
as sent (gzip when the server compresses); time is the request's wall time, median of several.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.config import Context
from bench.data import write_history
from bench.infra import LOGIN, get_json, post_json
from layouts import ids
from layouts.charts import GRAPH_IDS
from services.core.units import HOUR_MS, MINUTE_MS
from services.storage.series import load_window

REPEAT = 5
CHART_OUTPUTS = (*(f"{graph}.figure" for graph in GRAPH_IDS), f"{ids.CHART_STATE}.data")
PAGE = {  # what the page's stores hold: a 1200 px wide chart in UTC, light theme, the default account
    f"{ids.CLIENT}.data": {"width": 1200, "tz": "UTC"},
    f"{ids.THEME}.data": "light",
    f"{ids.LOCATION}.pathname": "/",
    f"{ids.RANGE_BUTTONS}.value": "today",
}


class Callbacks:
    """Builds callback requests as the Dash renderer does, from the app's own ``/_dash-dependencies``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.specs = get_json(url + "/_dash-dependencies")

    def body(self, outputs: tuple[str, ...], values: dict[str, Any], changed: str) -> dict[str, Any]:
        spec = next(s for s in self.specs if "@" not in s["output"] and all(o in s["output"] for o in outputs))
        names = spec["output"].strip(".").split("...")
        wanted = [{"id": name.rsplit(".", 1)[0], "property": name.rsplit(".", 1)[1]} for name in names]

        def fill(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{**item, "value": values.get(f"{item['id']}.{item['property']}")} for item in items]

        return {
            "output": spec["output"],
            "outputs": wanted if spec["output"].startswith("..") else wanted[0],
            "inputs": fill(spec["inputs"]),
            "changedPropIds": [changed],
            "state": fill(spec["state"]),
        }

    def today(self) -> dict[str, Any]:
        """The range the page's default button stands for, as the server computes it."""
        body = self.body((f"{ids.RANGE}.data",), PAGE, f"{ids.RANGE_BUTTONS}.value")
        answer, _, _ = post_json(self.url + "/_dash-update-component", body)
        return answer["response"][ids.RANGE]["data"]

    def charts(self, selection: dict[str, Any], relayout: dict[str, Any] | None = None) -> dict[str, Any]:
        values = {**PAGE, f"{ids.RANGE}.data": selection, f"{ids.EQUITY_GRAPH}.relayoutData": relayout}
        changed = f"{ids.EQUITY_GRAPH}.relayoutData" if relayout else f"{ids.RANGE}.data"
        return self.body(CHART_OUTPUTS, values, changed)


def utc_text(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000))


def fetch(url: str, body: dict[str, Any]) -> dict[str, Any]:
    times, size, drawn = [], 0, 0
    for _ in range(REPEAT):
        answer, size, seconds = post_json(url + "/_dash-update-component", body)
        times.append(seconds * 1000)
        figure = answer["response"][GRAPH_IDS[0]]["figure"]
        drawn = max(len(trace.get("x") or []) for trace in figure["data"])
    return {
        "payload_kb": round(size / 1024, 1),
        "first_ms": round(times[0], 1),
        "median_ms": round(statistics.median(times), 1),
        "max_ms": round(max(times), 1),
        "points_per_trace": drawn,
    }


def run(ctx: Context) -> dict[str, Any]:
    sizes = ctx.sizes
    ctx.redis.flush()
    store = ctx.store()
    end_ms = int(time.time() * 1000) - MINUTE_MS
    first_ms = end_ms - (sizes.history_points - 1) * sizes.history_step_ms
    ctx.log(f"big history: writing {sizes.history_points:,} points")
    write_s = write_history(store, LOGIN, sizes.history_points, end_ms, sizes.history_step_ms)
    stored = store.history_length(LOGIN)
    started = time.perf_counter()
    window = load_window(store, LOGIN, None, None, PAGE[f"{ids.CLIENT}.data"]["width"])
    load_all_ms = (time.perf_counter() - started) * 1000
    middle = (first_ms + end_ms) // 2
    zooms = {"zoom_1h": (middle, middle + HOUR_MS), "zoom_1d": (middle, middle + 24 * HOUR_MS)}
    everything = {"choice": "all", "from_ms": None, "to_ms": None}
    with ctx.app("history", poll_ms=250) as app:
        ctx.log("big history: opening and zooming the chart")
        callbacks = Callbacks(app.url)
        opens = {
            "open_all": fetch(app.url, callbacks.charts(everything)),
            "open_today": fetch(app.url, callbacks.charts(callbacks.today())),
        }
        for name, (low, high) in zooms.items():
            relayout = {"xaxis.range[0]": utc_text(low), "xaxis.range[1]": utc_text(high)}
            opens[name] = fetch(app.url, callbacks.charts(everything, relayout))
    return {
        "points": sizes.history_points,
        "stored": stored,
        "span_h": round((end_ms - first_ms) / HOUR_MS, 1),
        "write_s": round(write_s, 2),
        "write_points_per_s": round(sizes.history_points / write_s),
        "redis_used_mb": round(ctx.redis.memory()["used_memory"] / 2**20, 1),
        "load_window_all_ms": round(load_all_ms, 1),
        "load_window_all_source": window.source,
        "load_window_all_read": window.stored,
        **opens,
    }
