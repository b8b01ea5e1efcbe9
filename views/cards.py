"""The header, the KPI cards, the link badges and the history sync line, as the page shows them."""

from __future__ import annotations

from typing import Any

from layouts import ids
from services.analytics.today import day_bounds, stored_day_start
from services.live.kpis import KPIS, MOVING, kpi_texts, level_class
from services.live.render import Updates
from services.runtime import Runtime, UnreadableSnapshot
from services.storage.redis_conn import REDIS_ERRORS

TRADE_MODES = {0: ("Demo", "pill pill-demo"), 1: ("Contest", "pill pill-contest"), 2: ("Real", "pill pill-real")}
MARGIN_MODES = {0: "Netting", 1: "Exchange", 2: "Hedging"}
BADGES = (("mt5", "MT5", "mt5_error"), ("redis", "Redis", "error"))  # link, label, the status field of its error
LEVEL_CARD = ids.kpi_card("margin_level")
# What a replay (callbacks/replay.py) shows from the archive, and live updates leave alone meanwhile: id → prop.
REPLAYED = {
    **{ids.kpi_value(kpi.name): "children" for kpi in KPIS},
    **{ids.kpi_delta(kpi.name): "children" for kpi in MOVING},
    LEVEL_CARD: "className",
    ids.POSITIONS_GRID: "rowData",
    ids.ORDERS_GRID: "rowData",
    ids.POSITIONS_COUNT: "children",
    ids.ORDERS_COUNT: "children",
}


def header_updates(account: dict[str, Any], note: str) -> Updates:
    mode, mode_class = TRADE_MODES.get(account["trade_mode"], ("Unknown", "pill"))
    return {
        ids.ACCOUNT_TITLE: {"children": f"{account['name']} · #{account['login']}"},
        ids.ACCOUNT_DETAILS: {
            "children": f"{account['server']} · {account['company']} · {account['currency']} · 1:{account['leverage']}"
        },
        ids.TRADE_MODE: {"children": mode, "className": mode_class},
        ids.MARGIN_MODE: {"children": MARGIN_MODES.get(account["margin_mode"], "—")},
        ids.SOURCE_NOTE: {"children": note},
    }


def kpi_updates(account: dict[str, Any], day: dict[str, Any] | None) -> Updates:
    """Each card's value and change (a change unknown leaves the card's as it is), and the level's colour."""
    updates: Updates = {LEVEL_CARD: {"className": level_class(account)}}
    for name, (value, change) in kpi_texts(account, day).items():
        updates[ids.kpi_value(name)] = {"children": value}
        if change is not None:
            updates[ids.kpi_delta(name)] = {"children": change}
    return updates


def blank_kpis() -> Updates:
    """The cards with nothing to show."""
    updates: Updates = {ids.kpi_value(kpi.name): {"children": "—"} for kpi in KPIS}
    updates.update({ids.kpi_delta(kpi.name): {"children": ""} for kpi in MOVING})
    updates[LEVEL_CARD] = {"className": "kpi"}
    return updates


def badge(label: str, state: str | None, error: str | None) -> tuple[str, str] | None:
    if state is None:
        return None
    good, waiting = state in ("connected", "up"), state in ("starting", "reconnecting", "unknown")
    text = f"{label}: {state}" + (f" — {error}" if error and not good else "")
    return text, "badge " + ("badge-ok" if good else "badge-warn" if waiting else "badge-bad")


def badge_updates(status: dict[str, Any], stale: str | None = None) -> Updates:
    """The MT5 and Redis badges of what a status tells (a link it says nothing about keeps its badge); ``stale``:
    why the MT5 link is stale by the monitor's rule, which outranks the last state its status told, so the badge
    never says "connected" beside the stale banner."""
    updates: Updates = {}
    for name, label, error in BADGES:
        shown = badge(label, status.get(name), status.get(error))
        if name == "mt5" and stale:
            shown = (f"{label}: stale — {stale}", "badge badge-bad")
        if shown is not None:
            updates[ids.link_badge(name)] = {"children": shown[0], "className": shown[1]}
    return updates


def sync_updates(sync: dict[str, Any] | None) -> Updates:
    """The line near the range bar while the source reads the terminal's deal history."""
    if not sync or sync.get("done"):
        return {ids.HISTORY_SYNC: {"hidden": True}}
    read, total = int(sync.get("read") or 0), int(sync.get("total") or 0)
    of_total = f" of {total:,}" if total else ""
    return {
        ids.HISTORY_SYNC: {"hidden": False},
        ids.HISTORY_SYNC_TEXT: {"children": f"Reading history from the terminal: {read:,}{of_total} deals"},
        ids.HISTORY_SYNC_BAR: {"value": read, "max": max(total, read, 1)},
    }


def day_start(runtime: Runtime, account: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """The account at the broker's midnight and today's cash flows, read once per day (or reconnect).

    While Redis cannot answer, only the day's bounds: the cards say there is no history yet.
    """
    login = account["login"]
    zone = runtime.broker_zone(login)
    try:
        snapshot = runtime.latest_snapshot(login)
        if snapshot is None:
            return stored_day_start(runtime.store, login, zone, now_ms, archive=runtime.archive_reader)
        positions = [p.to_dict() for p in snapshot.positions]
        account_now = snapshot.account.to_dict()
        return stored_day_start(
            runtime.store, login, zone, now_ms, account_now, positions, archive=runtime.archive_reader
        )
    except (*REDIS_ERRORS, UnreadableSnapshot):
        start, end = day_bounds(zone, now_ms)
        return {"start_ms": start, "end_ms": end, "flows": 0.0}
