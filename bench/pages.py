"""Issue 15, item 6: pages that the server renders for once per view and pushes to, measured in one run.

1. ``cpu``: the server process's CPU seconds per minute at 4 polls/s with 0, 1, 2, 4 headless Chromium pages
   open on it, and the marginal cost per page (the least-squares slope), side by side with the
   ``dcc.Interval`` reference (``bench/polling_app.py``) over an empty history and over 10,000 points.
2. ``dom``: change → DOM in the page, at each poll interval: a ``MutationObserver`` on the Equity KPI's text
   and ``plotly_afterplot`` on the balance/equity chart, both timestamped with ``Date.now()``. Each change
   adds ``CREDIT_STEP`` to the equity (``bench/server.py``), so a KPI text or a chart's newest equity point
   says how many changes it shows.
3. ``scale``: 500 page sockets (``bench/pagesockets.py``, the page's URL and view frame as a real page sent
   them) acknowledging every render frame, plus 2 Chromium pages measuring change → DOM meanwhile.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import numpy as np
from selenium import webdriver

from bench.browser import callback_requests, cpu_seconds, start_chromium
from bench.config import Context
from bench.data import write_history
from bench.infra import LOGIN, ROOT, AppProcess, CpuMeter, summary, wait_for
from bench.pagesockets import EQUITY_KPI, money_value
from bench.server import changes_in
from layouts import ids
from services.core.protocol import VIEW, client_frame, dumps

MINUTE_S = 60
CHART = ids.EQUITY_GRAPH
# Records [Date.now(), text] at each change of the Equity KPI's text, and [Date.now(), newest equity] at each
# plotly_afterplot that drew a new newest point; the KPI is looked up again at each mutation of its card.
DOM_HOOK = """
const kpiId = arguments[0], graphId = arguments[1];
const kpi = document.getElementById(kpiId);
const gd = document.querySelector('#' + graphId + ' .js-plotly-plot');
if (!kpi || !gd || !gd.on || !gd.data) { return false; }
window.__benchKpi = [];
window.__benchChart = [];
let text = kpi.textContent;
new MutationObserver(function () {
    const now = Date.now();
    const shown = document.getElementById(kpiId);
    if (shown && shown.textContent !== text) { text = shown.textContent; window.__benchKpi.push([now, text]); }
}).observe(kpi.parentElement, {childList: true, characterData: true, subtree: true});
let last = null;
gd.on('plotly_afterplot', function () {
    const now = Date.now();
    const trace = gd.data.find(t => t.name === 'Equity');
    if (!trace || !trace.y || !trace.y.length) { return; }
    const y = trace.y[trace.y.length - 1];
    if (y !== last) { last = y; window.__benchChart.push([now, y]); }
});
return true;
"""
CHART_READY = "return !!document.querySelector('#' + arguments[0] + ' .js-plotly-plot .main-svg');"
KEEP_RESOURCES = "performance.setResourceTimingBufferSize(1000000);"
# The page's /ws URL and the frames it sent, from the DevTools log (start_chromium(network_log=True)).
WS_CREATED = "Network.webSocketCreated"
WS_SENT = "Network.webSocketFrameSent"


SCRIPT_TIMEOUT_S = 120  # a renderer starved by a loaded machine answers late, which is no failure of the page


def open_page(url: str, network_log: bool = False) -> webdriver.Chrome:
    driver = start_chromium(network_log=network_log)
    driver.set_script_timeout(SCRIPT_TIMEOUT_S)
    driver.set_page_load_timeout(SCRIPT_TIMEOUT_S)
    driver.get(url)
    wait_for(lambda: driver.execute_script(CHART_READY, CHART), 60, "the page's chart")
    driver.execute_script(KEEP_RESOURCES)
    return driver


def quit_all(drivers: list[webdriver.Chrome]) -> None:
    for driver in drivers:
        driver.quit()


# 1. Server CPU per page


def cpu_run(ctx: Context, kind: str, history: int) -> dict[str, Any]:
    """One server; the same window with each number of pages open (pages stay open as more are added)."""
    sizes = ctx.sizes
    ctx.redis.flush()
    options: dict[str, Any] = {"app": kind, "poll_ms": sizes.pages_interval_ms, "points": sizes.pages_history}
    if history:
        write_history(ctx.store(), LOGIN, history, int(time.time() * 1000) - 1000, sizes.pages_interval_ms)
    else:
        options["no_backfill"] = True
    label = f"{kind}-{history}"
    levels, drivers = [], []
    with ctx.app(f"pages-cpu-{label}", **options) as app:
        try:
            for count in sizes.pages_counts:
                ctx.log(f"pages: CPU, {kind} with {history:,} points, {count} pages")
                while len(drivers) < count:
                    drivers.append(open_page(app.url))
                time.sleep(sizes.settle_s)
                levels.append(cpu_window(app, drivers, sizes.pages_window_s))
        finally:
            quit_all(drivers)
    return {
        "app": kind,
        "history": history,
        "levels": levels,
        "cpu_s_per_min_per_page": slope(levels),
        "cpu_s_per_min_per_added_page": slope([level for level in levels if level["pages"] > 0]),
    }


def slope(levels: list[dict[str, Any]]) -> float | None:
    """CPU-s per minute per page: the least-squares slope over the levels (None below two).

    From 0 pages it includes what the first page of a view starts, the view's rendering shared by all its
    pages; from 1 page on it is what each page adds.
    """
    if len(levels) < 2:
        return None
    counts = np.array([level["pages"] for level in levels], dtype=float)
    per_minute = np.array([level["cpu_s_per_min"] for level in levels])
    return round(float(np.polyfit(counts, per_minute, 1)[0]), 3)


def cpu_window(app: AppProcess, drivers: list[webdriver.Chrome], window_s: float) -> dict[str, Any]:
    assert app.proc is not None
    polls, browsers = app.state()["polls"], [cpu_seconds(driver) for driver in drivers]
    start, meter = time.time() * 1000, CpuMeter(app.proc).start()
    time.sleep(window_s)
    cpu, end = meter.stop(), time.time() * 1000
    polls = app.state()["polls"] - polls
    requests = sum(1 for driver in drivers for begun, _ in callback_requests(driver) if start <= begun <= end)
    browser_s = sum(cpu_seconds(driver) - before for driver, before in zip(drivers, browsers, strict=True))
    return {
        "pages": len(drivers),
        "server": cpu,
        "cpu_s_per_min": round(cpu["cpu_s"] * MINUTE_S / cpu["wall_s"], 3),
        "polls_per_s": round(polls / cpu["wall_s"], 2),
        "dash_requests_per_page_per_s": round(requests / max(1, len(drivers)) / cpu["wall_s"], 2),
        "browser_cpu_pct_per_page": round(100 * browser_s / max(1, len(drivers)) / cpu["wall_s"], 1),
    }


def cpu(ctx: Context) -> dict[str, Any]:
    runs = {
        "push": cpu_run(ctx, "push", ctx.sizes.pages_history),
        "poll_empty": cpu_run(ctx, "poll", 0),
        "poll_10k": cpu_run(ctx, "poll", ctx.sizes.pages_history),
    }
    for fit in ("cpu_s_per_min_per_page", "cpu_s_per_min_per_added_page"):
        push = runs["push"][fit]
        for name in ("poll_empty", "poll_10k"):
            poll = runs[name][fit]
            ratio = round(poll / push, 1) if push and poll is not None and push > 0 else None
            runs[name][fit.replace("cpu_s_per_min", "times_push")] = ratio
    return {"interval_ms": ctx.sizes.pages_interval_ms, "window_s": ctx.sizes.pages_window_s, **runs}


# 2. Change → DOM


def install_dom_hook(driver: webdriver.Chrome) -> None:
    wait_for(lambda: driver.execute_script(DOM_HOOK, EQUITY_KPI, CHART), 30, "the KPI and chart hooks")


def dom_rows(driver: webdriver.Chrome) -> dict[str, list[tuple[float, int]]]:
    """(page time ms, changes shown) at each new Equity KPI text and each newest equity point drawn."""
    kpi = driver.execute_script("return window.__benchKpi || [];")
    chart = driver.execute_script("return window.__benchChart || [];")
    return {
        "kpi": [(float(t), changes_in(money_value(text))) for t, text in kpi],
        "chart": [(float(t), changes_in(float(y))) for t, y in chart],
    }


def change_latency(changes: np.ndarray, window: tuple[float, float], shown: list[tuple[float, int]]) -> np.ndarray:
    """For each change in the window, the time from it to the first moment that showed it (ms)."""
    start, end = window
    numbers = np.nonzero((changes >= start) & (changes <= end))[0] + 1  # change j is changes[j - 1]
    if not shown or not len(numbers):
        return np.array([])
    times = np.array([t for t, _ in shown], dtype=float)
    counts = np.maximum.accumulate(np.array([k for _, k in shown], dtype=np.int64))
    at = np.searchsorted(counts, numbers, side="left")
    ok = at < len(times)
    return times[at[ok]] - changes[numbers[ok] - 1]


def dom_latency(
    changes: np.ndarray, window: tuple[float, float], rows: list[dict[str, list[tuple[float, int]]]]
) -> dict[str, Any]:
    """Change → KPI text and change → chart over every page's rows."""
    counted = int(((changes >= window[0]) & (changes <= window[1])).sum())
    result: dict[str, Any] = {"changes": counted}
    for part in ("kpi", "chart"):
        samples = np.concatenate([change_latency(changes, window, page[part]) for page in rows] or [np.array([])])
        result[f"change_{part}_ms"] = summary(samples)
        result[f"unshown_{part}"] = counted * len(rows) - len(samples)
    return result


def dom_measure(ctx: Context, interval_ms: int, window_s: float) -> dict[str, Any]:
    ctx.redis.flush()
    ctx.log(f"pages: change → DOM at POLL_INTERVAL_MS={interval_ms}, {window_s:.0f} s")
    with ctx.app(f"pages-dom-{interval_ms}", poll_ms=interval_ms) as app:
        driver = open_page(app.url)
        try:
            install_dom_hook(driver)
            time.sleep(ctx.sizes.settle_s)
            start = time.time() * 1000
            time.sleep(window_s)
            end = time.time() * 1000
            time.sleep(interval_ms / 1000 + 1.0)  # the window's last changes arrive
            rows = dom_rows(driver)
        finally:
            driver.quit()
        changes = np.array(app.timeline()["changes"], dtype=float)
    return {"interval_ms": interval_ms, "window_s": window_s, **dom_latency(changes, (start, end), [rows])}


def dom(ctx: Context) -> dict[str, Any]:
    sizes = ctx.sizes
    pairs = zip(sizes.dom_intervals_ms, sizes.dom_window_s, strict=True)
    return {str(interval): dom_measure(ctx, interval, window) for interval, window in pairs}


# 3. 500 page sockets and 2 real pages


def page_socket(driver: webdriver.Chrome) -> tuple[str, str]:
    """The /ws URL the page opened and the view it sent once its charts loaded (its zone and charts), as the
    view frame a page sends when its socket opens, from its DevTools log."""
    found: dict[str, Any] = {}

    def seen() -> bool:
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message.get("method") == WS_CREATED and "/ws?" in params.get("url", ""):
                found["url"] = params["url"]
            elif message.get("method") == WS_SENT:
                view = client_frame(params["response"]["payloadData"]).get("view")
                if view is not None and ids.CHART_STATE in view:
                    found["view"] = view
        return "url" in found and "view" in found

    wait_for(seen, 60, "the page's socket and its view with the charts loaded", 0.5)
    return found["url"], dumps({"type": VIEW, "view": found["view"]})


def spawn_sockets(ctx: Context, url: str, view: str, count: int) -> list[tuple[subprocess.Popen[str], Any]]:
    per = ctx.sizes.clients_per_worker
    workers = []
    for index, start in enumerate(range(0, count, per)):
        out = ctx.workdir / f"pagesockets-{index}.json"
        args = [sys.executable, "-m", "bench.pagesockets", url, view, str(min(per, count - start)), str(out)]
        process = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        workers.append((process, out))
    return workers


def tell(workers: list[tuple[subprocess.Popen[str], Any]], line: str) -> None:
    for process, _ in workers:
        assert process.stdin is not None
        process.stdin.write(line + "\n")
        process.stdin.flush()


def socket_latency(results: list[dict[str, Any]], changes: np.ndarray, window: tuple[float, float]) -> dict[str, Any]:
    samples, sockets = [], sum(result["sockets"] for result in results)
    for result in results:
        rows = np.array(result["rows"], dtype=float).reshape(-1, 3)
        for index in np.unique(rows[:, 0]):
            mine = rows[rows[:, 0] == index]
            samples.append(change_latency(changes, window, [(t, int(k)) for _, k, t in mine]))
    counted = int(((changes >= window[0]) & (changes <= window[1])).sum())
    received = np.concatenate(samples or [np.array([])])
    wall_s = (window[1] - window[0]) / 1000
    return {
        "receipt_ms": summary(received),
        "unreceived": counted * sockets - len(received),
        "frames_per_socket_per_s": round(sum(r["frames"] for r in results) / max(1, sockets) / wall_s, 2),
        "bytes_per_socket_per_s": round(sum(r["chars"] for r in results) / max(1, sockets) / wall_s, 1),
        "full_frames": sum(r["full"] for r in results),
        "gaps": sum(r["gaps"] for r in results),
        "closed_by_server": sum(r["closed_by_server"] for r in results),
        "failed_to_connect": sum(r["failed"] for r in results),
    }


def scale(ctx: Context) -> dict[str, Any]:
    sizes = ctx.sizes
    ctx.redis.flush()
    ctx.log(f"pages: {sizes.page_sockets} page sockets + {sizes.scale_browsers} Chromium pages")
    with ctx.app("pages-scale", poll_ms=sizes.pages_interval_ms) as app:
        drivers = [open_page(app.url, network_log=index == 0) for index in range(sizes.scale_browsers)]
        workers: list[tuple[subprocess.Popen[str], Any]] = []
        try:
            url, view = page_socket(drivers[0])
            workers = spawn_sockets(ctx, url, view, sizes.page_sockets)
            connected = 0
            for process, _ in workers:
                assert process.stdout is not None
                connected += int(process.stdout.readline().split()[-1])
            for driver in drivers:
                install_dom_hook(driver)
            time.sleep(sizes.settle_s)
            tell(workers, "start")
            assert app.proc is not None
            start, meter = time.time() * 1000, CpuMeter(app.proc).start()
            time.sleep(sizes.page_sockets_window_s)
            cpu_used, end = meter.stop(), time.time() * 1000
            tell(workers, "end")
            time.sleep(sizes.pages_interval_ms / 1000 + 1.0)
            rows = [dom_rows(driver) for driver in drivers]
            health = app.health()["websocket"]
        finally:
            tell(workers, "stop")
            quit_all(drivers)
        results = []
        for process, out in workers:
            process.wait(120)
            results.append(json.loads(out.read_text()))
        changes = np.array(app.timeline()["changes"], dtype=float)
    return {
        "interval_ms": sizes.pages_interval_ms,
        "window_s": sizes.page_sockets_window_s,
        "page_sockets": sizes.page_sockets,
        "connected": connected,
        "browsers": len(drivers),
        "server": cpu_used,
        "server_dropped": health["dropped"],
        "server_clients": health["clients"],
        "sockets": socket_latency(results, changes, (start, end)),
        "pages": dom_latency(changes, (start, end), rows),
    }


def run(ctx: Context) -> dict[str, Any]:
    return {"cpu": cpu(ctx), "dom": dom(ctx), "scale": scale(ctx)}
