"""The run's figures as one table (text and Markdown), each issue-7 goal marked met or not, and the charts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


@dataclass(frozen=True)
class Row:
    scenario: str
    figure: str
    value: str
    goal: str = ""
    met: bool | None = None

    @property
    def verdict(self) -> str:
        return "" if not self.goal else "met" if self.met else "NOT met" if self.met is False else "not judged"


def pct(s: dict[str, Any]) -> str:
    return f"{s['p50']:.0f} / {s['p95']:.0f} / {s['p99']:.0f} ms (n={s['n']})" if s["n"] else "no sample"


def timing(r: dict[str, Any]) -> str:
    return f"{r['payload_kb']:.0f} KB / {r['median_ms']:.0f} ({r['max_ms']:.0f}) ms"


def latency_rows(result: dict[str, Any]) -> list[Row]:
    rows = []
    for interval, r in result["intervals"].items():
        name, i = f"Latency @ {interval} ms", int(interval)
        goal = f"p50 ≤ {i / 2 + 30:.0f}, p99 ≤ {i + 100} ms"
        for key, label in (("change_ws_ms", "change → WS"), ("change_chart_ms", "change → chart")):
            s = r[key]
            met = s["n"] > 0 and s["p50"] <= i / 2 + 30 and s["p99"] <= i + 100
            rows.append(Row(name, f"{label} p50/p95/p99", pct(s), goal, met))
        rows.append(Row(name, "poll → WS p50/p95/p99", pct(r["poll_ws_ms"])))
        rows.append(Row(name, "poll → chart p50/p95/p99", pct(r["poll_chart_ms"])))
        calls = f"{pct(r['callback_request_ms'])}, {r['callback_requests_per_s']:.1f}/s"
        rows.append(Row(name, "page's Dash requests while live: round trip p50/p95/p99, rate", calls))
        lost = f"{r['changes']} / {r['undelivered_ws']} / {r['undrawn']}"
        rows.append(Row(name, "changes / not delivered (WS) / not drawn", lost))
    return rows


def pushpoll_rows(r: dict[str, Any]) -> list[Row]:
    name = f"Push vs poll ({r['browsers']} browsers, {r['interval_ms']} ms, {r['history_points']:,} pts)"
    push, poll = r["push"], r["poll"]
    cpu = f"{push['server']['cpu_pct']:.1f} % / {poll['server']['cpu_pct']:.1f} %"
    size = f"{push['bytes_per_update']:,.0f} / {poll['bytes_per_update']:,.0f} B"
    browser = f"{push['browser_cpu_pct']:.1f} % / {poll['browser_cpu_pct']:.1f} %"
    drawn = " / ".join(f"{r[k]['points_drawn_per_page']:.0f} of {r[k]['updates']}" for k in ("push", "poll"))
    return [
        Row(name, "server CPU push / poll", cpu),
        Row(name, "server CPU ratio (poll ÷ push)", f"{r['cpu_ratio']:.1f}×", "≥ 20×", r["cpu_ratio"] >= 20),
        Row(name, "bytes per update per page push / poll", size),
        Row(name, "bytes ratio (poll ÷ push)", f"{r['bytes_ratio']:.1f}×", "≥ 100×", r["bytes_ratio"] >= 100),
        Row(name, "browser CPU per page push / poll", browser),
        Row(name, "new points drawn per page push / poll", drawn),
    ]


def clients_rows(result: dict[str, Any]) -> list[Row]:
    rows = []
    for r in result["runs"]:
        name, s = f"{r['clients']} WS clients @ 2/s", r["latency_ms"]
        goal, met = ("p99 ≤ 250 ms", s["n"] > 0 and s["p99"] <= 250) if r["clients"] == 200 else ("", None)
        rows.append(Row(name, "poll → receipt p50/p95/p99", pct(s), goal, met))
        usage = f"{r['server']['cpu_pct']:.1f} % / {r['rss_idle_mb']:.0f} → {r['rss_peak_mb']:.0f} MB"
        rows.append(Row(name, "server CPU / RSS idle → peak", usage))
        expected = r["account_events_expected_per_client"] * r["clients"]
        dropped = f"{r['server_dropped']} / {r['account_events_missed']} of {expected}"
        rows.append(Row(name, "dropped: server queues / missed by clients", dropped))
    return rows


def history_rows(r: dict[str, Any]) -> list[Row]:
    name = f"History {r['stored']:,} points"
    write = f"{r['write_s']:.1f} s ({r['write_points_per_s']:,}/s), Redis {r['redis_used_mb']:.0f} MB"
    first = r["open_all"]
    met = first["payload_kb"] <= 200 and first["max_ms"] <= 1000
    window = f"{r['load_window_all_ms']:.0f} ms ({r['load_window_all_source']}, {r['load_window_all_read']:,} read)"
    return [
        Row(name, "write (append_history, pipelined)", write),
        Row(name, "first paint, range All: payload / median (max)", timing(first), "≤ 200 KB, ≤ 1 s", met),
        Row(name, "first paint, range Today", timing(r["open_today"])),
        Row(name, "zoom re-fetch 1 h (raw points)", timing(r["zoom_1h"])),
        Row(name, "zoom re-fetch 1 day (rollup)", timing(r["zoom_1d"])),
        Row(name, "load_window(All) in-process", window),
    ]


def export_rows(r: dict[str, Any]) -> list[Row]:
    name = f"Export {r['rows']:,} deals"
    speed = f"{r['seconds']:.2f} s ({r['rows_per_s']:,} rows/s, {r['csv_mb']:.0f} MB)"
    memory = f"{r['rss_base_mb']:.0f} → {r['rss_peak_mb']:.0f} MB ({r['rss_growth_last_90pct_mb']:+.1f} MB)"
    return [
        Row(name, "write (bulk HSET + ZADD)", f"{r['write_s']:.1f} s, Redis {r['redis_used_mb']:.0f} MB"),
        Row(name, "CSV time", speed, "≤ 3 s", r["seconds"] <= 3),
        Row(name, "RSS base → peak (growth over the last 90 %)", memory, "flat", r["flat"]),
    ]


def soak_rows(r: dict[str, Any]) -> list[Row]:
    name = f"Soak {r['sim_hours']:.1f} h simulated"
    pace = f"{r['polls']:,} / {r['updates_per_sim_s']:.2f} / {r['speedup']:.0f}× in {r['real_s']:.0f} s"
    rss = f"{r['rss_start_mb']:.0f} → {r['rss_end_mb']:.0f} MB"
    growth = f"{100 * r['rss_growth']:+.1f} % ({100 * r['rss_growth_from_start']:+.1f} % from start)"
    redis_mb = f"{r['redis_start_mb']:.1f} → {r['redis_end_mb']:.1f} MB ({r['history_points']:,} history points)"
    frames = f"{r['ws_frames']:,} ({r['ws_mb']:.0f} MB) / {r['ws_dropped']}"
    return [
        Row(name, "polls / updates per simulated s / speed-up", pace),
        Row(name, f"RSS {rss}, growth after {r['warm_up_h']:g} h", growth, "≤ 10 %", r["rss_growth"] <= 0.10),
        Row(name, "Redis used memory", redis_mb),
        Row(name, "WS client frames / dropped", frames),
    ]


def accounts_rows(r: dict[str, Any]) -> list[Row]:
    name = f"{r['accounts']} accounts @ {1000 / r['interval_ms']:.0f}/s each"
    each = r["collector_cpu_pct_each"]
    return [
        Row(name, "poll → receipt, all accounts p50/p95/p99", pct(r["latency_ms"])),
        Row(
            name,
            "per-account p99: median / worst",
            f"{r['median_account_p99_ms']:.0f} / {r['worst_account_p99_ms']:.0f} ms",
        ),
        Row(
            name,
            "dashboard CPU / Redis CPU",
            f"{r['dashboard_cpu']['cpu_pct']:.1f} % / {r['redis_cpu']['cpu_pct']:.1f} %",
        ),
        Row(
            name,
            "collectors CPU total (each p50 / max)",
            f"{r['collectors_cpu_pct_total']:.1f} % ({each['p50']:.1f} / {each['max']:.1f} %)",
        ),
        Row(name, "stale marks seen in the window / health", f"{r['stale_marks_seen']} / {r['health_status']}"),
    ]


CPU_RUNS = {"push": "push", "poll_empty": "dcc.Interval, empty history", "poll_10k": "dcc.Interval, 10k points"}
PAGE_FITS = (("per_added_page", "each added page (fit over 1+ pages)"), ("per_page", "fit over 0+ pages"))


def fitted(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def pages_rows(r: dict[str, Any]) -> list[Row]:
    """Issue 15, item 6: server CPU per page, change → DOM, and 500 page sockets with 2 real pages."""
    cpu, rows = r["cpu"], []
    name = f"Pages: server CPU per page @ {cpu['interval_ms']} ms"
    for key, label in CPU_RUNS.items():
        levels = ", ".join(f"{level['pages']}: {level['cpu_s_per_min']:.2f}" for level in cpu[key]["levels"])
        rows.append(Row(name, f"{label}: CPU-s/min with N pages open", levels))
    for fit, label in PAGE_FITS:
        push = cpu["push"][f"cpu_s_per_min_{fit}"]
        met = push is not None and push <= 0.1
        rows.append(Row(name, f"push CPU-s/min, {label}", fitted(push), "≤ 0.1", met))
        for key, times in (("poll_empty", 12), ("poll_10k", 100)):
            ratio = cpu[key][f"times_push_{fit}"]
            value = f"{fitted(cpu[key][f'cpu_s_per_min_{fit}'], 2)} ({fitted(ratio, 1)}× push)"
            met = ratio is not None and ratio >= times
            rows.append(Row(name, f"{CPU_RUNS[key]} CPU-s/min, {label}", value, f"≥ {times}× push", met))
    for interval, d in r["dom"].items():
        i = int(interval)
        goal = f"p50 ≤ {i / 2 + 20:.0f}, p99 ≤ {i + 60} ms"
        for part, label in (("kpi", "change → Equity KPI text"), ("chart", "change → chart afterplot")):
            s = d[f"change_{part}_ms"]
            met = s["n"] > 0 and s["p50"] <= i / 2 + 20 and s["p99"] <= i + 60
            rows.append(Row(f"Pages: change → DOM @ {interval} ms", f"{label} p50/p95/p99", pct(s), goal, met))
    sc = r["scale"]
    name = f"Pages: {sc['connected']} page sockets + {sc['browsers']} Chromium @ {sc['interval_ms']} ms"
    sockets, pages = sc["sockets"], sc["pages"]
    rows.append(Row(name, "sockets: change → render frame p50/p95/p99", pct(sockets["receipt_ms"])))
    for part, label in (("kpi", "pages: change → Equity KPI text"), ("chart", "pages: change → chart afterplot")):
        s = pages[f"change_{part}_ms"]
        met = sc["connected"] >= 500 and s["n"] > 0 and s["p99"] <= 250
        rows.append(Row(name, f"{label} p50/p95/p99", pct(s), "≥ 500 sockets, p99 ≤ 250 ms", met))
    frames = f"{sockets['frames_per_socket_per_s']:.2f}/s, {sockets['bytes_per_socket_per_s']:,.0f} B/s"
    rows.append(Row(name, "frames received per socket", frames))
    lost = f"{sc['server_dropped']} / {sockets['gaps']} / {sockets['unreceived']} / {sockets['closed_by_server']}"
    rows.append(Row(name, "dropped (server) / seq gaps / changes unreceived / closed", lost))
    rows.append(Row(name, "server CPU", f"{sc['server']['cpu_pct']:.1f} % of a core"))
    return rows


BUILDERS = {
    "latency": latency_rows,
    "pushpoll": pushpoll_rows,
    "clients": clients_rows,
    "history": history_rows,
    "export": export_rows,
    "soak": soak_rows,
    "accounts": accounts_rows,
    "pages": pages_rows,
}


def rows_of(results: dict[str, Any]) -> list[Row]:
    rows = []
    for name, result in results["scenarios"].items():
        if "error" in result:
            rows.append(Row(name, "error", result["error"][:100]))
        else:
            rows.extend(BUILDERS[name](result))
    if "clients" in results["scenarios"] and not any(r.goal for r in rows if "WS clients" in r.scenario):
        rows.append(Row("200 WS clients @ 2/s", "poll → receipt p99", "not run", "p99 ≤ 250 ms", None))
    if results["quick"]:  # tiny sizes: the figures prove the suite works, not the goals
        rows = [replace(row, met=None) for row in rows]
    return rows


def text_table(rows: list[Row]) -> str:
    cells = [("Scenario", "Figure", "Value", "Goal", "Met")] + [
        (r.scenario, r.figure, r.value, r.goal, r.verdict) for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(5)).rstrip() for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: list[Row]) -> str:
    lines = ["| Scenario | Figure | Value | Goal | Met |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r.scenario} | {r.figure} | {r.value} | {r.goal} | {r.verdict} |" for r in rows]
    return "\n".join(lines)


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def charts(results: dict[str, Any], out: Path) -> list[Path]:
    """One PNG per scenario that ran without error; returns their paths."""
    made = []
    for name, result in results["scenarios"].items():
        if "error" not in result:
            path = out / f"{name}.png"
            _save(PLOTS[name](result), path)
            made.append(path)
    return made


def plot_latency(r: dict[str, Any]) -> Any:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    panels = (("change_ws", "change → WebSocket"), ("change_chart", "change → chart redraw"))
    for ax, (key, title) in zip(axes, panels, strict=True):
        for interval, result in r["intervals"].items():
            values = np.sort(result["samples"][key])
            if len(values):
                ax.plot(values, np.arange(1, len(values) + 1) / len(values), label=f"{interval} ms poll")
        ax.set_title(title)
        ax.set_xlabel("latency (ms)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of changes")
    axes[0].legend()
    return fig


def plot_pushpoll(r: dict[str, Any]) -> Any:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    kinds = ("push", "poll")
    axes[0].bar(kinds, [r[k]["server"]["cpu_pct"] for k in kinds], color=("#16a34a", "#dc2626"))
    axes[0].set_title(f"server CPU (% of a core), {r['cpu_ratio']:.1f}×")
    axes[0].set_ylim(0, max(r[k]["server"]["cpu_pct"] for k in kinds) * 1.25)
    sizes = [r[k]["bytes_per_update"] for k in kinds]
    axes[1].bar(kinds, sizes, color=("#16a34a", "#dc2626"))
    axes[1].set_yscale("log")
    axes[1].set_ylim(100, max(sizes) * 3)
    for ax, values in ((axes[0], [r[k]["server"]["cpu_pct"] for k in kinds]), (axes[1], sizes)):
        for x, value in enumerate(values):
            ax.annotate(f"{value:,.0f}", (x, value), ha="center", va="bottom")
    axes[1].set_title(f"bytes per update per page, {r['bytes_ratio']:.0f}×")
    return fig


def plot_clients(r: dict[str, Any]) -> Any:
    runs = r["runs"]
    counts = [run["clients"] for run in runs]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
    axes[0].plot(counts, [run["latency_ms"]["p99"] for run in runs], "o-", label="p99")
    axes[0].plot(counts, [run["latency_ms"]["p50"] for run in runs], "o-", label="p50")
    axes[0].axhline(250, color="grey", linestyle="--", linewidth=1)
    axes[0].set_title("poll → receipt (ms)")
    axes[0].legend()
    axes[1].plot(counts, [run["server"]["cpu_pct"] for run in runs], "o-")
    axes[1].set_title("server CPU (% of a core)")
    axes[2].plot(counts, [run["rss_peak_mb"] for run in runs], "o-")
    axes[2].set_title("server RSS (MB)")
    for ax in axes:
        ax.set_xlabel("WebSocket clients")
        ax.grid(alpha=0.3)
    return fig


def plot_history(r: dict[str, Any]) -> Any:
    keys = ("open_all", "open_today", "zoom_1h", "zoom_1d")
    labels = ("All", "Today", "zoom 1 h", "zoom 1 d")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].bar(labels, [r[k]["payload_kb"] for k in keys])
    axes[0].axhline(200, color="grey", linestyle="--", linewidth=1)
    axes[0].set_title("payload (KB)")
    axes[1].bar(labels, [r[k]["median_ms"] for k in keys])
    axes[1].axhline(1000, color="grey", linestyle="--", linewidth=1)
    axes[1].set_title("time, median (ms)")
    fig.suptitle(f"{r['stored']:,} stored points", fontsize=10)
    return fig


def plot_export(r: dict[str, Any]) -> Any:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    t, rss = zip(*r["rss_curve"], strict=True)
    ax.plot(t, rss)
    ax.set_ylim(0, max(rss) * 1.2)
    ax.set_xlabel("seconds into the export")
    ax.set_ylabel("RSS (MB)")
    ax.set_title(f"{r['rows']:,} deals to CSV in {r['seconds']:.1f} s")
    ax.grid(alpha=0.3)
    return fig


def plot_soak(r: dict[str, Any]) -> Any:
    rows = r["samples"]
    hours = [row["sim_h"] for row in rows]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].plot(hours, [row["rss_mb"] for row in rows])
    axes[0].set_ylim(0, max(row["rss_mb"] for row in rows) * 1.2)
    axes[0].set_title("app RSS (MB)")
    axes[1].plot(hours, [row["redis_used_mb"] for row in rows], color="#d97706")
    axes[1].set_title("Redis used_memory (MB)")
    for ax in axes:
        ax.set_xlabel("simulated hours")
        ax.grid(alpha=0.3)
    return fig


def plot_accounts(r: dict[str, Any]) -> Any:
    logins = list(r["per_account_p99_ms"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [3, 1]})
    axes[0].bar(range(len(logins)), [r["per_account_p99_ms"][login] or 0 for login in logins])
    axes[0].set_xticks(range(len(logins)), [login[-2:] for login in logins], fontsize=7)
    axes[0].set_xlabel("account (last digits of the login)")
    axes[0].set_title("poll → WebSocket receipt p99 per account (ms)")
    parts = ("dashboard", "collectors", "Redis")
    values = (r["dashboard_cpu"]["cpu_pct"], r["collectors_cpu_pct_total"], r["redis_cpu"]["cpu_pct"])
    axes[1].bar(parts, values, color=("#2563eb", "#16a34a", "#d97706"))
    for x, value in enumerate(values):
        axes[1].annotate(f"{value:.0f}", (x, value), ha="center", va="bottom")
    axes[1].set_title("CPU (% of a core)")
    for ax in axes:
        ax.grid(alpha=0.3, axis="y")
    return fig


def plot_pages(r: dict[str, Any]) -> Any:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for key, label in CPU_RUNS.items():
        levels = r["cpu"][key]["levels"]
        axes[0].plot([lv["pages"] for lv in levels], [lv["cpu_s_per_min"] for lv in levels], "o-", label=label)
    axes[0].set_xlabel("Chromium pages open")
    axes[0].set_title("server CPU-s per minute")
    axes[0].legend(fontsize=8)
    for interval, d in r["dom"].items():
        for part, style in (("kpi", "-"), ("chart", "--")):
            s = d[f"change_{part}_ms"]
            if s["n"]:
                axes[1].plot([50, 95, 99], [s["p50"], s["p95"], s["p99"]], style + "o", label=f"{interval} ms {part}")
    axes[1].set_xlabel("percentile")
    axes[1].set_title("change → DOM (ms)")
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3)
    return fig


PLOTS = {
    "latency": plot_latency,
    "pushpoll": plot_pushpoll,
    "clients": plot_clients,
    "history": plot_history,
    "export": plot_export,
    "soak": plot_soak,
    "accounts": plot_accounts,
    "pages": plot_pages,
}
