"""The benchmark suite's smoke run: ``python -m bench --quick`` goes end to end and writes well-formed results.

Timings depend on the machine and are never asserted; only that every scenario ran and reported its numbers.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.browser]
ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = {"latency", "pushpoll", "clients", "history", "export", "soak", "accounts", "pages"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def well_formed(stats: dict[str, Any]) -> bool:
    """A latency summary with samples: every percentile a finite number, in order."""
    keys = ("p50", "p95", "p99", "max")
    return stats["n"] > 0 and all(number(stats[k]) for k in keys) and stats["p50"] <= stats["p99"] <= stats["max"]


@pytest.mark.timeout(600)
def test_quick_clients_runwrites_results_table_and_charts(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=590,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "Scenario" in run.stdout and "Met" in run.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["quick"] is True
    assert set(results["scenarios"]) == SCENARIOS
    assert not [name for name, result in results["scenarios"].items() if "error" in result]
    machine = results["machine"]
    assert machine["cores_logical"] >= 1 and machine["redis_server"] and machine["python"]
    scenarios = results["scenarios"]

    for interval in scenarios["latency"]["intervals"].values():
        for key in ("change_ws_ms", "poll_ws_ms", "change_chart_ms", "poll_chart_ms"):
            assert well_formed(interval[key]), key
        assert number(interval["callback_requests_per_s"]), "the page's Dash requests while it watches (none per batch)"

    pushpoll = scenarios["pushpoll"]
    assert number(pushpoll["cpu_ratio"]) and number(pushpoll["bytes_ratio"])
    for kind in ("push", "poll"):
        assert pushpoll[kind]["updates"] > 0 and pushpoll[kind]["bytes_per_update"] > 0
        assert number(pushpoll[kind]["server"]["cpu_pct"])

    for clients_run in scenarios["clients"]["runs"]:
        assert clients_run["connected"] == clients_run["clients"] and well_formed(clients_run["latency_ms"])
        assert clients_run["server_dropped"] >= 0 and clients_run["account_events_missed"] >= 0

    history = scenarios["history"]
    assert history["stored"] == history["points"]
    for key in ("open_all", "open_today", "zoom_1h", "zoom_1d"):
        assert (
            history[key]["payload_kb"] > 0 and history[key]["points_per_trace"] > 0 and number(history[key]["max_ms"])
        )

    export = scenarios["export"]
    assert export["rows"] == export["deals"] == export["stored"]
    assert number(export["seconds"]) and isinstance(export["flat"], bool)

    soak = scenarios["soak"]
    assert soak["sim_hours"] >= results["sizes"]["soak_hours"] and len(soak["samples"]) >= 2
    assert soak["polls"] > 0 and soak["rss_end_mb"] > 0 and soak["redis_end_mb"] > 0

    accounts = scenarios["accounts"]
    assert well_formed(accounts["latency_ms"]) and number(accounts["worst_account_p99_ms"])
    assert len(accounts["per_account_p99_ms"]) == accounts["accounts"] == results["sizes"]["accounts"]
    assert all(count > 0 for count in accounts["events_per_account"].values()), "every account streamed"
    assert number(accounts["dashboard_cpu"]["cpu_pct"]) and number(accounts["collectors_cpu_pct_total"])

    pages = scenarios["pages"]
    for key in ("push", "poll_empty", "poll_10k"):
        levels = pages["cpu"][key]["levels"]
        assert [level["pages"] for level in levels] == results["sizes"]["pages_counts"]
        assert all(number(level["cpu_s_per_min"]) and level["polls_per_s"] > 0 for level in levels)
        assert number(pages["cpu"][key]["cpu_s_per_min_per_page"]), "the slope over 0..N pages"
    for interval in pages["dom"].values():
        assert interval["changes"] > 0, "changes injected in the window"
        assert well_formed(interval["change_kpi_ms"]) and well_formed(interval["change_chart_ms"]), "seen in the DOM"
    scale = pages["scale"]
    assert scale["connected"] == scale["page_sockets"] == results["sizes"]["page_sockets"]
    assert well_formed(scale["sockets"]["receipt_ms"]) and scale["sockets"]["frames_per_socket_per_s"] > 0
    assert well_formed(scale["pages"]["change_kpi_ms"]) and well_formed(scale["pages"]["change_chart_ms"])
    assert scale["server_dropped"] >= 0 and scale["sockets"]["closed_by_server"] == 0

    assert "| Scenario |" in (tmp_path / "summary.md").read_text()
    for name in SCENARIOS:
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
