"""Every stored deal to a CSV file (``services/analytics/csv_export.py``) in a fresh process sampling its RSS.

``python -m bench.export_probe REDIS_URL LOGIN CSV_PATH`` prints one JSON line: seconds, rows, bytes,
and the RSS before, during (every 20 ms) and at the end, so "flat memory" is a curve, not a guess.
"""

from __future__ import annotations

import json
import sys
import time

import psutil
import redis

from bench.infra import Sampler
from services.analytics.csv_export import deals_csv
from services.storage.store import Store

SAMPLE_S = 0.02


def main() -> None:
    url, login, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    store = Store(redis.Redis.from_url(url, decode_responses=True), "mt5", 1_000_000)
    process = psutil.Process()
    store.deal_count(login)  # connect before the baseline
    baseline = process.memory_info().rss
    started = time.perf_counter()
    rows = size = 0
    with (
        Sampler(lambda: {"t": time.perf_counter() - started, "rss": process.memory_info().rss}, SAMPLE_S) as rss,
        open(path, "w", encoding="utf-8", newline="") as out,
    ):
        for chunk in deals_csv(store, login, None, None):
            out.write(chunk)
            rows += chunk.count("\n")
            size += len(chunk)
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": rows - 1, "bytes": size, "rss_base": baseline, "rss": rss.rows}))


if __name__ == "__main__":
    main()
