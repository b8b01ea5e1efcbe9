"""``python -m bench [--quick] [--only NAME ...] [--out DIR]``: every benchmark, one table, JSON and charts.

A full run takes about 25 minutes on 2 cores; ``--quick`` is the smoke run (tiny sizes, a few
minutes). Results go to ``bench/results/`` (git-ignored): ``results.json``, ``summary.md`` and PNGs.
A scenario that fails is recorded with its error and the others still run; the exit status is 1 then.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil

from bench import accounts, bighistory, clients, csvexport, latency, pages, pushpoll, report, soak
from bench.config import FULL, QUICK, Context
from bench.infra import ROOT, RedisServer

SCENARIOS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "latency": latency.run,
    "pushpoll": pushpoll.run,
    "clients": clients.run,
    "history": bighistory.run,
    "export": csvexport.run,
    "soak": soak.run,
    "accounts": accounts.run,
    "pages": pages.run,
}
PACKAGES = (
    "dash",
    "plotly",
    "flask",
    "werkzeug",
    "simple-websocket",
    "flask-compress",
    "redis",
    "hiredis",
    "selenium",
    "psutil",
)


def cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or "unknown"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")


def machine(redis_server: RedisServer) -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "cores_logical": psutil.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "redis_server": redis_server.version(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "packages": {name: version(name) for name in PACKAGES},
    }


def run_all(names: list[str], quick: bool, out: Path) -> dict[str, Any]:
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    sizes = QUICK if quick else FULL
    results: dict[str, Any] = {"quick": quick, "sizes": asdict(sizes), "scenarios": {}}
    results["started"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as redis_dir:
        redis_server = RedisServer(Path(redis_dir)).start()
        try:
            ctx = Context(redis_server, sizes, logs)
            results["machine"] = machine(redis_server)
            for name in names:
                began = time.monotonic()
                try:
                    results["scenarios"][name] = SCENARIOS[name](ctx)
                except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the others' figures
                    ctx.log(f"{name} failed: {exc!r} (logs in {logs})")
                    results["scenarios"][name] = {"error": repr(exc)}
                results["scenarios"][name]["duration_s"] = round(time.monotonic() - began, 1)
            results["duration_s"] = round(time.monotonic() - ctx.started, 1)
            results["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        finally:
            redis_server.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every scenario")
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), help="run these scenarios only")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where results go")
    args = parser.parse_args(argv)
    out: Path = args.out
    results = run_all(args.only or list(SCENARIOS), args.quick, out)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    rows = report.rows_of(results)
    (out / "summary.md").write_text(report.markdown_table(rows) + "\n")
    charts = report.charts(results, out)
    print()
    print(report.text_table(rows))
    print(f"\n{len(results['scenarios'])} scenarios in {results['duration_s']:.0f} s; results, summary and "
          f"{len(charts)} charts in {out}")  # fmt: skip
    return 1 if any("error" in result for result in results["scenarios"].values()) else 0
