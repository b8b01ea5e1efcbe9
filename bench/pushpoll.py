"""Goal 2: push (this app) against the usual ``dcc.Interval`` polling page, in one run, same everything.

Both servers poll the same timed demo account at the same rate with the app's own streamer, over
the same 10k points of history in Redis, with the same number of headless Chromium pages open. Per
app: the server process's CPU, the bytes each page exchanged (DevTools Network events) divided by
the source updates in the window, and how many of those updates each page's chart actually drew.
"""

from __future__ import annotations

import time
from typing import Any

from bench.browser import chart_points, cpu_seconds, install_redraw_hook, redraws, start_chromium, traffic
from bench.config import Context
from bench.data import write_history
from bench.infra import LOGIN, CpuMeter, wait_for

EQUITY_GRAPH = "equity-graph"  # the id of the chart on both pages


def measure(ctx: Context, kind: str) -> dict[str, Any]:
    sizes = ctx.sizes
    ctx.redis.flush()
    seeded_s = write_history(
        ctx.store(), LOGIN, sizes.pushpoll_history, int(time.time() * 1000) - 1000, sizes.pushpoll_interval_ms
    )
    ctx.log(f"push vs poll: {kind}, {sizes.pushpoll_browsers} browsers, {sizes.pushpoll_window_s:.0f} s")
    options = {"app": kind, "poll_ms": sizes.pushpoll_interval_ms, "points": sizes.pushpoll_history}
    with ctx.app(f"pushpoll-{kind}", **options) as app:
        drivers = []
        try:
            for _ in range(sizes.pushpoll_browsers):
                drivers.append(start_chromium(network_log=True))
                drivers[-1].get(app.url)
            for driver in drivers:  # the chart exists; the polling page may never manage to fill it
                wait_for(lambda d=driver: install_redraw_hook(d, EQUITY_GRAPH), 60, f"the {kind} page's chart")
            time.sleep(sizes.settle_s)
            for driver in drivers:
                traffic(driver)  # page load and first paint are not updates
            browser_cpu = [cpu_seconds(driver) for driver in drivers]
            polls = app.state()["polls"]
            start, meter = time.time() * 1000, CpuMeter(app.proc).start()
            time.sleep(sizes.pushpoll_window_s)
            cpu, end = meter.stop(), time.time() * 1000
            updates = app.state()["polls"] - polls
            pages = [traffic(driver) for driver in drivers]
            browser_cpu = [cpu_seconds(driver) - before for driver, before in zip(drivers, browser_cpu, strict=True)]
            drawn = [sum(added for t, _, added in redraws(driver) if start <= t <= end) for driver in drivers]
            points = [chart_points(driver, EQUITY_GRAPH) for driver in drivers]
        finally:
            for driver in drivers:
                driver.quit()
    down = sum(page["http_down"] + page["ws_down"] for page in pages) / len(pages)
    up = sum(page["up"] for page in pages) / len(pages)
    return {
        "server": cpu,
        "updates": updates,
        "updates_per_s": round(updates / cpu["wall_s"], 2),
        "history_seed_s": round(seeded_s, 2),
        "bytes_down_per_update": round(down / max(1, updates), 1),
        "bytes_up_per_update": round(up / max(1, updates), 1),
        "bytes_per_update": round((down + up) / max(1, updates), 1),
        "http_responses_per_page": sum(page["responses"] for page in pages) / len(pages),
        "ws_frames_per_page": sum(page["ws_frames"] for page in pages) / len(pages),
        "browser_cpu_pct": round(100 * sum(browser_cpu) / len(browser_cpu) / cpu["wall_s"], 1),
        "points_drawn_per_page": round(sum(drawn) / len(drawn), 1),
        "points_on_chart": points,
    }


def run(ctx: Context) -> dict[str, Any]:
    push, poll = measure(ctx, "push"), measure(ctx, "poll")
    return {
        "interval_ms": ctx.sizes.pushpoll_interval_ms,
        "browsers": ctx.sizes.pushpoll_browsers,
        "history_points": ctx.sizes.pushpoll_history,
        "window_s": ctx.sizes.pushpoll_window_s,
        "push": push,
        "poll": poll,
        "cpu_ratio": round(poll["server"]["cpu_pct"] / max(push["server"]["cpu_pct"], 1e-9), 2),
        "bytes_ratio": round(poll["bytes_per_update"] / max(push["bytes_per_update"], 1e-9), 1),
    }
