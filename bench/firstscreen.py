"""``python -m bench.firstscreen [--deals N] [--keep]``: from ``python app.py`` to the first full screen.

A new user's first start on a real-looking account: the mt5linux server from the pinned package serves
the fake MetaTrader5 with the account of tests/fakes/real_account.py (N deals over 330 days up to now,
both daylight-saving changes, a New York close clock), and ``python app.py`` runs against it with
``MT5_SOURCE=mt5linux`` and the embedded Redis, exactly as the README says. It prints, from the app's
process start:

- health ok: the account's live figures are on the page;
- history read: ``/health`` says the whole deal history is in (``mt5.history_sync.done``), and the
  deals per second that makes, counted from the process start (start-up included);
- first full screen: ``/stats`` over the whole life counts every trade and ``/deals`` every deal.

Goal (issue "A real account, true from the first screen"): with 10,000 deals, the whole history on
the first screen within seconds. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fakes.fake_bridge import LOGIN, PASSWORD, SERVER, FakeBridge, free_port

ROOT = Path(__file__).resolve().parents[1]


def get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())


def wait(check: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Seconds on the monotonic clock when ``check`` first held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return time.monotonic()
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{what}: not within {timeout_s} s")


def run(deals: int, log_dir: Path) -> dict[str, Any]:
    bridge = FakeBridge(deals, kind="real", log_path=log_dir / "bridge.log")
    bridge.start(timeout_s=120)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MT5", "REDIS", "APP_", "BROKER"))}
    env.update(
        MT5_SOURCE="mt5linux", MT5LINUX_PORT=str(bridge.port), MT5_LOGIN=str(LOGIN), MT5_PASSWORD=PASSWORD,
        MT5_SERVER=SERVER, REDIS_URL="embedded", APP_PORT=str(port), PYTHONUNBUFFERED="1",
    )  # fmt: skip
    log = (log_dir / "app.log").open("w")
    started = time.monotonic()
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        healthy = wait(lambda: get_json(port, "/health")["status"] == "ok", 60, "health ok")
        synced = wait(lambda: bool(get_json(port, "/health")["mt5"]["history_sync"]["done"]), 120, "history read")
        sync = get_json(port, "/health")["mt5"]["history_sync"]
        trades: dict[str, int] = {}

        def full() -> bool:
            trades["stats"] = get_json(port, "/stats")["trades"]
            trades["deals"] = len(get_json(port, "/deals?limit=100000")["deals"])
            return trades["deals"] >= sync["total"]

        screen = wait(full, 60, "first full screen")
        return {
            "deals": sync["total"],
            "trades": trades["stats"],
            "health_ok_s": healthy - started,
            "history_read_s": synced - started,
            "read_deals_per_s": sync["total"] / (synced - started),
            "first_full_screen_s": screen - started,
            "broker_clock": get_json(port, "/health")["mt5"]["broker_clock"],
        }
    finally:
        app.terminate()
        app.wait(20)
        bridge.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the logs' directory and print its path")
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-firstscreen-"))
    result = run(args.deals, log_dir)
    print(f"First screen on a real-looking account through the mt5linux bridge ({result['deals']:,} deals)")
    rate, trades = f"{result['read_deals_per_s']:,.0f}", f"{result['trades']:,}"
    print(f"  health ok (live figures)    {result['health_ok_s']:6.2f} s after start")
    print(f"  whole history read          {result['history_read_s']:6.2f} s ({rate} deals/s from start)")
    print(f"  first full screen           {result['first_full_screen_s']:6.2f} s ({trades} trades in /stats)")
    print(f"  broker clock                {result['broker_clock']}")
    if args.keep:
        print(f"  logs in {log_dir}")


if __name__ == "__main__":
    main()
