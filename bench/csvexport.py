"""Goal 5: a million deals to CSV with ``services/analytics/csv_export.py``: time and peak memory.

Deals go in through ``Store.add_deals`` in chunks; the export runs in a fresh process
(``bench/export_probe.py``) so its RSS is the export's alone. Memory counts as flat when RSS grows by
at most ``FLAT_MB`` over the last 90 % of the export: holding even a tenth of the rows would take more.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bench.config import Context
from bench.data import write_deals
from bench.infra import LOGIN, ROOT

FLAT_MB = 5.0
MB = 2**20


def run(ctx: Context) -> dict[str, Any]:
    count = ctx.sizes.export_deals
    ctx.redis.flush()
    ctx.log(f"export: writing {count:,} deals")
    store = ctx.store()
    write_s = write_deals(store, LOGIN, count, int(time.time() * 1000))
    stored = store.deal_count(LOGIN)
    redis_mb = ctx.redis.memory()["used_memory"] / MB
    ctx.log("export: deals to CSV")
    path = ctx.workdir / "deals.csv"
    probe = subprocess.run(
        [sys.executable, "-m", "bench.export_probe", ctx.redis.url, str(LOGIN), str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    path.unlink()
    seconds, samples = result["seconds"], result["rss"]
    peak = max(row["rss"] for row in samples)
    at_tenth = next(row["rss"] for row in samples if row["t"] >= seconds / 10)
    return {
        "deals": count,
        "stored": stored,
        "write_s": round(write_s, 2),
        "redis_used_mb": round(redis_mb, 1),
        "seconds": round(seconds, 2),
        "rows": result["rows"],
        "rows_per_s": round(result["rows"] / seconds),
        "csv_mb": round(result["bytes"] / MB, 1),
        "rss_base_mb": round(result["rss_base"] / MB, 1),
        "rss_peak_mb": round(peak / MB, 1),
        "rss_growth_mb": round((peak - result["rss_base"]) / MB, 1),
        "rss_growth_last_90pct_mb": round((peak - at_tenth) / MB, 1),
        "flat": (peak - at_tenth) / MB <= FLAT_MB,
        "rss_curve": [(round(row["t"], 3), round(row["rss"] / MB, 1)) for row in samples],
    }
