"""``python -m bench.archive --quick``: it writes, fills a year at a tiny density, reads it back and prints its rows.

Timings are never asserted; only that every row is there with the sizes the run was asked for.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"[\d,.]+"


def test_the_archive_benchmark_writes_reads_a_year_and_prints_its_rows() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # SQLite only
    command = [sys.executable, "-m", "bench.archive", "--quick"]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert re.search(rf"^SQLite\s+{NUMBER}(\s+{NUMBER}){{5}}$", run.stdout, re.M), run.stdout
    assert "PostgreSQL" not in run.stdout.split("A year back")[0]
    points = int(re.search(r"A year back \(SQLite\): ([\d,]+) points", run.stdout)[1].replace(",", ""))
    assert points == 260 * 60 * 4, "a minute of every weekday of the year, 4 points a second"
    rows = {
        m["read"].strip(): (int(m["read_rows"].replace(",", "")), int(m["out"].replace(",", "")))
        for m in re.finditer(r"^(?P<read>[a-zA-Z].*?)\s+[\d.]+\s+(?P<read_rows>[\d,]+)\s+(?P<out>[\d,]+)$",
                             run.stdout, re.M)
    }  # fmt: skip
    assert rows["one day, full resolution (Archive.history)"] == (240, 240)
    assert rows["one week, full resolution (Archive.history)"] == (1_200, 1_200)
    assert rows["All, Redis empty (whole_life → archive)"][0] == 2 * 260, "the hourly rollup: each session's low, high"
    assert rows["per-minute rollup in SQL (GROUP BY)"] == (points, 260)
