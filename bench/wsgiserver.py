"""``python -m bench.wsgiserver [--requests N] [--sockets S]``: the server of ``python app.py``, Werkzeug's
development server against cheroot (``api/httpserver.py``), on the same app.

Each server runs the demo account on the embedded Redis in a process of its own. From here, for each:

- REST: ``N`` requests to ``/health`` and ``N`` to ``/account`` from 8 client threads, a new connection each (as
  health checkers and scripts call); latency p50/p95 and the server's CPU per 1,000 requests;
- idle: 100 keep-alive connections left open after one request each (a browser keeps several): the threads they
  hold in the server, and ``/health``'s latency beside them;
- ``/ws``: ``S`` sockets opened at once (``?batch_ms=5``, the hello and the snapshot), the time to the snapshot
  p50/p95, then 10 s with all of them open: the server's CPU while it streams the account to each.

It prints one table; the figures in README.md ("Production") come from it.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import websocket

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
SERVERS = ("werkzeug", "cheroot")
CLIENT_THREADS = 8
STREAM_S = 10.0
IDLE_CONNECTIONS = 100


def serve(kind: str, port: int) -> None:
    """The child: the app as ``python app.py`` runs it, served by ``kind``."""
    from werkzeug.serving import make_server

    from app import configure_logging, create_app, install_signal_handlers, listen
    from app import serve as serve_cheroot
    from services.core.settings import load_settings

    configure_logging("WARNING")
    install_signal_handlers()
    settings = load_settings({"APP_PORT": str(port), "REDIS_URL": "embedded", "DATA_DIR": os.environ["DATA_DIR"]},
                             dotenv_path=None)  # fmt: skip
    app = create_app(settings)
    gc.freeze()  # as main() does: the exit does not walk the app's objects
    if kind == "cheroot":
        serve_cheroot(app, listen(settings), settings)
        return
    werkzeug = make_server(settings.app_host, port, app.server, threaded=True)  # what app.py served with before
    werkzeug.daemon_threads = True
    try:
        werkzeug.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        app.server.extensions["mt5_runtime"].stop()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def fetch(url: str) -> None:
    with urllib.request.urlopen(url, timeout=10) as response:
        response.read()


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def rest(base: str, process: psutil.Process, path: str, requests: int) -> dict[str, float]:
    before = cpu_s(process)
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        latencies = list(pool.map(lambda _: timed(lambda: fetch(base + path)), range(requests)))
    used = cpu_s(process) - before
    return {"p50_ms": statistics.median(latencies), "p95_ms": percentile(latencies, 0.95),
            "cpu_ms_per_1000": used * 1000 / requests * 1000}  # fmt: skip


def sockets(port: int, process: psutil.Process, count: int) -> dict[str, float]:
    """``count`` sockets at once, the time to each one's snapshot, then the server's CPU while they stream."""
    opened: list[websocket.WebSocket] = []
    times: list[float] = []
    lock = threading.Lock()

    def connect() -> None:
        start = time.perf_counter()
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=30)
        while '"snapshot"' not in ws.recv():
            pass
        with lock:
            times.append((time.perf_counter() - start) * 1000)
            opened.append(ws)

    threads = [threading.Thread(target=connect) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop = threading.Event()

    def drain(ws: websocket.WebSocket) -> None:
        ws.settimeout(1)
        while not stop.is_set():
            try:
                ws.recv()
            except websocket.WebSocketTimeoutException:
                continue

    readers = [threading.Thread(target=drain, args=(ws,), daemon=True) for ws in opened]
    for reader in readers:
        reader.start()
    before = cpu_s(process)
    time.sleep(STREAM_S)
    used = cpu_s(process) - before
    stop.set()
    for ws in opened:
        ws.close()
    return {"p50_ms": statistics.median(times), "p95_ms": percentile(times, 0.95),
            "cpu_pct": used / STREAM_S * 100, "threads": process.num_threads()}  # fmt: skip


def idle(port: int, process: psutil.Process, count: int) -> dict[str, float]:
    """``count`` keep-alive connections left idle after one request each (as browsers keep theirs): the server's
    threads meanwhile, and a request's latency beside them."""
    before = process.num_threads()
    held = []
    for _ in range(count):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/livez")
        conn.getresponse().read()
        held.append(conn)
    time.sleep(0.5)
    threads = process.num_threads() - before
    latency = statistics.median(timed(lambda: fetch(f"http://127.0.0.1:{port}/health")) for _ in range(20))
    for conn in held:
        conn.close()
    return {"threads_added": threads, "health_p50_ms": latency}


def measure(kind: str, requests: int, count: int) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "DATA_DIR": data_dir, "PYTHONUNBUFFERED": "1"}
        child = subprocess.Popen([sys.executable, "-m", "bench.wsgiserver", "--serve", kind, "--port", str(port)],
                                 cwd=ROOT, env=env)  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    fetch(base + "/livez")
                    break
                except OSError:
                    if time.monotonic() > deadline or child.poll() is not None:
                        raise
                    time.sleep(0.2)
            time.sleep(3)  # the demo's history written: measure the steady state
            process = psutil.Process(child.pid)
            rest(base, process, "/health", 50)  # warm-up
            result = {"health": rest(base, process, "/health", requests),
                      "account": rest(base, process, "/account", requests),
                      "idle": idle(port, process, IDLE_CONNECTIONS), "ws": sockets(port, process, count)}  # fmt: skip
            start = time.perf_counter()
            child.send_signal(2)
            child.wait(30)
            result["stop_s"] = time.perf_counter() - start
            return result
        finally:
            if child.poll() is None:
                child.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--sockets", type=int, default=50)
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    results = {kind: measure(kind, args.requests, args.sockets) for kind in SERVERS}
    print(f"{'server':<10} {'route':<9} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms/1000 req':>16}")
    for kind, result in results.items():
        for route in ("health", "account"):
            r = result[route]
            print(f"{kind:<10} {route:<9} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} {r['cpu_ms_per_1000']:>16.0f}")
    print(f"\n{'server':<10} {'idle keep-alive connections':>28} {'threads they hold':>18} {'/health p50 ms':>15}")
    for kind, result in results.items():
        i = result["idle"]
        print(f"{kind:<10} {IDLE_CONNECTIONS:>28} {i['threads_added']:>18} {i['health_p50_ms']:>15.2f}")
    print(f"\n{'server':<10} {'sockets':>7} {'snapshot p50 ms':>16} {'p95 ms':>8} {'CPU % streaming':>16} "
          f"{'threads':>8} {'stop s':>7}")  # fmt: skip
    for kind, result in results.items():
        w = result["ws"]
        print(f"{kind:<10} {args.sockets:>7} {w['p50_ms']:>16.1f} {w['p95_ms']:>8.1f} {w['cpu_pct']:>16.1f} "
              f"{w['threads']:>8} {result['stop_s']:>7.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
