"""Goal 3: many plain ``/ws`` clients at 2 updates/s: p99 latency, server CPU and memory, messages dropped.

Clients live in worker processes (``bench/wsclients.py``), a few hundred per ``select`` loop. Latency
runs from the poll that read the account to each client's receipt of that account event. Dropped:
the server's own count (``/health`` ``websocket.dropped``) and, seen from the clients, the account
events some client got but another did not.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any

import numpy as np

from bench.config import Context
from bench.infra import ROOT, CpuMeter, Sampler, summary
from bench.latency import poll_of

ARRIVAL_MARGIN_MS = 1_000


def spawn_workers(ctx: Context, url: str, count: int) -> list[tuple[subprocess.Popen[str], Any]]:
    per = ctx.sizes.clients_per_worker
    shares = [min(per, count - start) for start in range(0, count, per)]
    workers = []
    for index, share in enumerate(shares):
        out = ctx.workdir / f"clients-{count}-{index}.json"
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.wsclients", url, str(share), str(out)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        workers.append((process, out))
    return workers


def stop_workers(workers: list[tuple[subprocess.Popen[str], Any]]) -> list[dict[str, Any]]:
    for process, _ in workers:
        assert process.stdin is not None
        process.stdin.write("stop\n")
        process.stdin.close()
    results = []
    for process, out in workers:
        process.wait(120)
        results.append(json.loads(out.read_text()))
    return results


def analyse(results: list[dict[str, Any]], timeline: dict[str, Any], window: tuple[float, float]) -> dict[str, Any]:
    start, end = window
    polls = np.array([p for p, _ in timeline["polls"]], dtype=float)
    by_client: dict[tuple[int, int], set[int]] = defaultdict(set)
    latencies = []
    for worker, result in enumerate(results):
        rows = np.array(result["rows"], dtype=float).reshape(-1, 3)
        rows = rows[(rows[:, 2] >= start) & (rows[:, 2] <= end)]
        ts = rows[:, 1].astype(np.int64)
        latencies.append(rows[:, 2] - polls[poll_of(np.floor(polls), ts)])
        for client, event_ts in zip(rows[:, 0].astype(int).tolist(), ts.tolist(), strict=True):
            by_client[(worker, client)].add(event_ts)
    clients = sum(len(result["frames"]) for result in results)
    expected = {t for seen in by_client.values() for t in seen if t <= end - ARRIVAL_MARGIN_MS}
    missed = sum(len(expected - seen) for seen in by_client.values()) + len(expected) * (clients - len(by_client))
    frames = sum(sum(result["frames"]) for result in results)
    chars = sum(sum(result["chars"]) for result in results)
    return {
        "latency_ms": summary(np.concatenate(latencies) if latencies else []),
        "account_events_expected_per_client": len(expected),
        "account_events_missed": missed,
        "frames_per_client_per_s": round(frames / max(1, clients) / ((end - start) / 1000), 2),
        "bytes_per_client_per_s": round(chars / max(1, clients) / ((end - start) / 1000), 1),
        "closed_by_server": sum(result["closed_by_server"] for result in results),
        "failed_to_connect": sum(result["failed"] for result in results),
    }


def measure(ctx: Context, count: int) -> dict[str, Any]:
    sizes = ctx.sizes
    ctx.log(f"clients: {count} WebSocket clients at {1000 / sizes.clients_interval_ms:.0f} updates/s")
    with ctx.app(f"clients-{count}", poll_ms=sizes.clients_interval_ms) as app:
        idle_rss = app.rss()
        workers = spawn_workers(ctx, app.ws_url, count)
        connected = 0
        for process, _ in workers:
            assert process.stdout is not None
            connected += int(process.stdout.readline().split()[-1])
        time.sleep(1.0)
        for process, _ in workers:
            assert process.stdin is not None
            process.stdin.write("start\n")
            process.stdin.flush()
        start = time.time() * 1000
        meter = CpuMeter(app.proc).start()
        with Sampler(lambda: {"rss": app.rss()}, 0.5) as rss:
            time.sleep(sizes.clients_window_s)
        cpu = meter.stop()
        end = time.time() * 1000
        health = app.health()["websocket"]
        results = stop_workers(workers)
        timeline = app.timeline()
    return {
        "clients": count,
        "connected": connected,
        "server": cpu,
        "rss_idle_mb": round(idle_rss / 2**20, 1),
        "rss_peak_mb": round(max(row["rss"] for row in rss.rows) / 2**20, 1),
        "server_dropped": health["dropped"],
        **analyse(results, timeline, (start, end)),
    }


def run(ctx: Context) -> dict[str, Any]:
    runs = []
    for count in ctx.sizes.client_counts:
        ctx.redis.flush()
        runs.append(measure(ctx, count))
    return {"interval_ms": ctx.sizes.clients_interval_ms, "window_s": ctx.sizes.clients_window_s, "runs": runs}
