"""Issue 8's figure: 20 demo accounts, each in its own collector process at 4 updates/s, one dashboard.

``python app.py`` with an accounts file supervises the collectors, exactly as a user runs it. One
plain ``/ws?account=<login>`` client per account records each account event; its latency runs from
the poll that read the account (the event's ``ts``, the collector's clock, which is this machine's)
to the receipt. CPU is measured per process over the window: the dashboard, the collectors, Redis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import numpy as np
import psutil

from bench.clients import spawn_workers, stop_workers
from bench.config import Context
from bench.infra import ROOT, CpuMeter, free_port, get_json, summary, wait_for

FIRST_LOGIN = 9001


def accounts_file(ctx: Context) -> str:
    lines = ["accounts:"]
    for index in range(ctx.sizes.accounts):
        lines.append(f"  - {{name: demo-{index + 1:02d}, login: {FIRST_LOGIN + index}, source: demo, "
                     f"demo_seed: {index + 1}, poll_interval_ms: {ctx.sizes.accounts_interval_ms}}}")  # fmt: skip
    path = ctx.workdir / "accounts-bench.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def start_dashboard(ctx: Context, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MT5", "REDIS", "APP_", "ACCOUNTS"))}
    env.update({"REDIS_URL": ctx.redis.url, "ACCOUNTS_FILE": accounts_file(ctx), "APP_PORT": str(port),
                "POLL_INTERVAL_MS": str(ctx.sizes.accounts_interval_ms), "LOG_LEVEL": "WARNING"})  # fmt: skip
    with (ctx.workdir / "accounts-dashboard.log").open("wb") as log:
        return subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def stop_dashboard(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def per_account(results: list[dict[str, Any]], logins: list[int], window: tuple[float, float]) -> dict[int, Any]:
    """Latency per account: client i listened to account i (one client per account, in login order)."""
    start, end = window
    found: dict[int, list[float]] = {login: [] for login in logins}
    offset = 0
    for result in results:
        for client, event_ts, received in result["rows"]:
            if start <= received <= end:
                found[logins[(offset + client) % len(logins)]].append(received - event_ts)
        offset += len(result["frames"])
    return {login: summary(values) for login, values in found.items()}


def run(ctx: Context) -> dict[str, Any]:
    sizes = ctx.sizes
    ctx.redis.flush()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logins = [FIRST_LOGIN + index for index in range(sizes.accounts)]
    ctx.log(f"accounts: {sizes.accounts} collector processes at {1000 / sizes.accounts_interval_ms:.0f} updates/s")
    dashboard = start_dashboard(ctx, port)
    try:

        def all_live() -> bool:
            if dashboard.poll() is not None:
                raise RuntimeError("the dashboard exited early; see accounts-dashboard.log")
            try:
                rows = get_json(base + "/accounts")["accounts"]
            except OSError:
                return False
            return len(rows) == len(logins) and not any(row["stale"] for row in rows)

        wait_for(all_live, 120, f"{len(logins)} live accounts", 0.5)
        main = psutil.Process(dashboard.pid)
        collectors = main.children()
        redis_proc = psutil.Process(ctx.redis.process.pid)
        urls = ",".join(f"ws://127.0.0.1:{port}/ws?account={login}" for login in logins)
        workers = spawn_workers(ctx, urls, len(logins))
        for process, _ in workers:
            assert process.stdout is not None
            process.stdout.readline()
        time.sleep(1.0)
        for process, _ in workers:
            assert process.stdin is not None
            process.stdin.write("start\n")
            process.stdin.flush()
        meters = {"dashboard": CpuMeter(main).start(), "redis": CpuMeter(redis_proc).start()}
        collector_meters = [CpuMeter(proc).start() for proc in collectors]
        start = time.time() * 1000
        stale_seen = 0
        deadline = time.monotonic() + sizes.accounts_window_s
        while time.monotonic() < deadline:
            stale_seen += sum(row["stale"] for row in get_json(base + "/accounts")["accounts"])
            time.sleep(1.0)
        end = time.time() * 1000
        cpu = {name: meter.stop() for name, meter in meters.items()}
        collector_cpu = [meter.stop()["cpu_pct"] for meter in collector_meters]
        results = stop_workers(workers)
        health = get_json(base + "/health")
    finally:
        stop_dashboard(dashboard)
    latencies = per_account(results, logins, (start, end))
    p99s = [s["p99"] for s in latencies.values() if s["p99"] is not None]
    every = np.concatenate([np.asarray([r[2] - r[1] for r in res["rows"] if start <= r[2] <= end], dtype=float)
                            for res in results])  # fmt: skip
    return {
        "accounts": len(logins),
        "interval_ms": sizes.accounts_interval_ms,
        "window_s": sizes.accounts_window_s,
        "latency_ms": summary(every),
        "per_account_p99_ms": {str(login): s["p99"] for login, s in latencies.items()},
        "worst_account_p99_ms": max(p99s) if p99s else None,
        "median_account_p99_ms": float(np.median(p99s)) if p99s else None,
        "events_per_account": {str(login): s["n"] for login, s in latencies.items()},
        "dashboard_cpu": cpu["dashboard"],
        "redis_cpu": cpu["redis"],
        "collectors_cpu_pct_total": round(sum(collector_cpu), 2),
        "collector_cpu_pct_each": summary(collector_cpu),
        "stale_marks_seen": stale_seen,
        "health_status": health["status"],
    }
