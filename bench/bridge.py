"""``python -m bench.bridge [--deals N] [--runs R]``: deals per second of a full-history read over mt5linux.

Standalone (no Redis, no browser). It starts the real mt5linux server from the pinned package with the
fake MetaTrader5 holding N deals (tests/fakes/fake_bridge.py), then times ``MT5Source.new_deals()`` on
a fresh session until its history sync is done, which is what the app does before the first screen shows the history:

- in-process: the fake module called directly (what the MetaTrader5 package costs on Windows, minus the
  terminal);
- over the bridge: ``load_mt5_module("mt5linux", ...)``, the app's ``BridgeClient`` (records in bulk);
- over the bridge, field by field: the plain ``mt5linux.MetaTrader5`` client, as the app used it before,
  on the first ``--field-deals`` deals only (a full history takes minutes that way).

Goal (issue "A real account, true from the first screen"): 10,000 deals in at most 3 s over the bridge.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mt5linux

from services.core.secret import Secret
from services.ingest.sources.mt5 import MT5Source, load_mt5_module
from tests.fakes.fake_bridge import (
    FIRST_DEAL_UTC,
    LOGIN,
    PASSWORD,
    SERVER,
    FakeBridge,
    deal_spacing_s,
    scripted_terminal,
)

GOAL_S = 3.0
GOAL_DEALS = 10_000


def source_over(module: Any) -> MT5Source:
    """The broker clock is set (the scripted deals run round the clock, weekends included: no evidence)."""
    return MT5Source(
        module, kind="mt5linux", login=LOGIN, password=Secret(PASSWORD), server=SERVER, broker_tz="ny-close"
    )


def timed(read: Callable[[], list[Any]], runs: int) -> tuple[list[float], int]:
    """Seconds of each run of ``read`` and the number of deals it returned (the same every run)."""
    seconds, counts = [], set()
    for _ in range(runs):
        started = time.perf_counter()
        counts.add(len(read()))
        seconds.append(time.perf_counter() - started)
    if len(counts) != 1:
        raise RuntimeError(f"runs returned different numbers of deals: {sorted(counts)}")
    return seconds, counts.pop()


def full_history(make_module: Callable[[], Any]) -> Callable[[], list[Any]]:
    """A fresh session's ``new_deals()`` until its history sync is done: the whole history, in pages,
    as the app reads it after it starts."""

    def read() -> list[Any]:
        source = source_over(make_module())
        source.connect()
        deals: list[Any] = []
        try:
            while not (source.history_sync or {}).get("done"):
                deals += source.new_deals()
            return deals
        finally:
            source.disconnect()

    return read


def first_deals(source: MT5Source, count: int, deals: int) -> Callable[[], list[Any]]:
    """The first ``count`` of the history's ``deals`` deals (evenly spaced, ``deal_spacing_s`` apart)."""
    last = FIRST_DEAL_UTC + deal_spacing_s(deals) * (count - 1)
    return lambda: source.deals_between(FIRST_DEAL_UTC - 1, last)


def row(name: str, seconds: list[float], deals: int) -> dict[str, Any]:
    median = statistics.median(seconds)
    return {"path": name, "deals": deals, "median_s": median, "best_s": min(seconds), "deals_per_s": deals / median}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Deals per second over the mt5linux bridge")
    parser.add_argument("--deals", type=int, default=GOAL_DEALS, help="history size (default 10,000)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per path; the median is reported")
    parser.add_argument("--field-deals", type=int, default=200, help="deals read the old, per-field way")
    args = parser.parse_args(argv)

    rows = []
    fake = scripted_terminal(args.deals)
    rows.append(row("in-process (fake module)", *timed(full_history(lambda: fake.module), args.runs)))
    with tempfile.TemporaryDirectory(prefix="bench-bridge-") as tmp:
        bridge = FakeBridge(args.deals, log_path=Path(tmp) / "bridge.log")
        bridge.start()
        try:
            address = ("127.0.0.1", bridge.port)
            bulk = full_history(lambda: load_mt5_module("mt5linux", *address))
            rows.append(row("mt5linux bridge, bulk (BridgeClient)", *timed(bulk, args.runs)))
            plain = source_over(mt5linux.MetaTrader5(*address))
            plain.connect()
            per_field = timed(first_deals(plain, args.field_deals, args.deals), 1)
            plain.disconnect()
            rows.append(row("mt5linux bridge, per field (plain client)", *per_field))
        finally:
            bridge.kill()

    print(f"Full-history read, {args.deals:,} deals, median of {args.runs} runs (per field: 1 run)")
    print(f"{'path':<44} {'deals':>7} {'median s':>9} {'best s':>8} {'deals/s':>9}")
    for r in rows:
        print(f"{r['path']:<44} {r['deals']:>7,} {r['median_s']:>9.3f} {r['best_s']:>8.3f} {r['deals_per_s']:>9,.0f}")
    bulk_row = rows[1]
    projected = GOAL_DEALS / bulk_row["deals_per_s"]
    verdict = "met" if projected <= GOAL_S else "NOT met"
    print(f"Goal: {GOAL_DEALS:,} deals in ≤ {GOAL_S:.0f} s over the bridge: {projected:.2f} s at this rate, {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
