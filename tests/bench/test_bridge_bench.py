"""``python -m bench.bridge`` at a tiny size: it starts the bridge, reads through every path and prints its rows.

Timings are never asserted; only that each path read the deals it was asked for and reported a rate.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_the_bridge_benchmark_reads_every_path_and_prints_its_rows() -> None:
    command = [sys.executable, "-m", "bench.bridge", "--deals", "60", "--runs", "2", "--field-deals", "5"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    rows = {
        m["path"].strip(): int(m["deals"])
        for m in re.finditer(r"^(?P<path>[a-z].*?)\s+(?P<deals>\d+)\s+[\d.]+\s+[\d.]+\s+[\d,]+$", run.stdout, re.M)
    }
    assert rows == {
        "in-process (fake module)": 60,
        "mt5linux bridge, bulk (BridgeClient)": 60,
        "mt5linux bridge, per field (plain client)": 5,
    }
    assert re.search(r"Goal: 10,000 deals in ≤ 3 s over the bridge: [\d.]+ s at this rate, (met|NOT met)", run.stdout)
