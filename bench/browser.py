"""Headless Chromium for the benchmarks: the tests' options, a redraw hook on a chart, bytes from DevTools.

Redraws are timestamped in the page (``Date.now()`` in a ``plotly_afterplot`` handler), on the same
clock as the server's poll times. Bytes come from the DevTools Network events Chromium logs.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import psutil
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--window-size=1280,1000",
)
WS_FRAME_HEADER = 4  # a server frame of 126..65535 bytes; small frames have 2, large ones 10

# Records [Date.now(), last x of the last trace, points added] each time plotly draws a new last point.
REDRAW_HOOK = """
const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!gd || !gd.on) { return false; }
performance.setResourceTimingBufferSize(100000);
window.__benchRedraws = [];
let last = null;
gd.on('plotly_afterplot', function () {
    const trace = gd.data && gd.data.find(t => t.name === 'Equity');  // the trace live points extend
    if (!trace || !trace.x || !trace.x.length) { return; }
    const xs = trace.x;
    const x = xs[xs.length - 1];
    if (x === last) { return; }
    let added = 0;
    for (let i = xs.length - 1; last !== null && i >= 0 && xs[i] !== last; i--) { added++; }
    last = x;
    window.__benchRedraws.push([Date.now(), String(x), added]);
});
return true;
"""
POINTS = """
const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
const trace = gd && gd.data && gd.data.find(t => t.name === 'Equity');
return trace && trace.x ? trace.x.length : 0;
"""


def start_chromium(network_log: bool = False) -> webdriver.Chrome:
    options = Options()
    options.binary_location = CHROMIUM
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    if network_log:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def chart_points(driver: webdriver.Chrome, graph_id: str) -> int:
    return int(driver.execute_script(POINTS, graph_id) or 0)


def install_redraw_hook(driver: webdriver.Chrome, graph_id: str) -> bool:
    return bool(driver.execute_script(REDRAW_HOOK, graph_id))


def redraws(driver: webdriver.Chrome) -> list[tuple[float, str, int]]:
    """(page time ms, newest x drawn, points it added) per redraw since the hook went in."""
    rows = driver.execute_script("return window.__benchRedraws || [];")
    return [(float(t), str(x), int(added)) for t, x, added in rows]


def callback_requests(driver: webdriver.Chrome) -> list[tuple[float, float]]:
    """(start as epoch ms, duration ms) of every Dash callback request the page made since the hook went in."""
    rows = driver.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes('_dash-update-component'))"
        ".map(e => [performance.timeOrigin + e.startTime, e.duration]);"
    )
    return [(float(start), float(duration)) for start, duration in rows]


def time_zone(driver: webdriver.Chrome) -> str:
    return str(driver.execute_script("return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';"))


def _post_bytes(request: dict[str, Any]) -> int:
    if "postData" in request:
        return len(request["postData"].encode())
    return sum(len(base64.b64decode(entry.get("bytes", ""))) for entry in request.get("postDataEntries", []))


def traffic(driver: webdriver.Chrome) -> dict[str, int]:
    """Bytes since the previous call: HTTP responses as received (headers included), WebSocket frames, uploads."""
    totals = dict.fromkeys(("http_down", "ws_down", "up", "responses", "ws_frames"), 0)
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.loadingFinished":
            totals["http_down"] += int(params.get("encodedDataLength", 0))
            totals["responses"] += 1
        elif method == "Network.webSocketFrameReceived":
            totals["ws_down"] += len(params["response"].get("payloadData", "").encode()) + WS_FRAME_HEADER
            totals["ws_frames"] += 1
        elif method == "Network.webSocketFrameSent":
            totals["up"] += len(params["response"].get("payloadData", "").encode()) + WS_FRAME_HEADER
        elif method == "Network.requestWillBeSent":
            totals["up"] += _post_bytes(params.get("request", {}))
    return totals


def cpu_seconds(driver: webdriver.Chrome) -> float:
    """CPU time of every Chromium process this driver started (renderer, GPU, network service…)."""
    total = 0.0
    for child in psutil.Process(driver.service.process.pid).children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total
