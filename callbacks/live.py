"""The live dispatcher: every ``/ws`` batch becomes one update of the whole page.

One callback (one request per batch) reads the frame and sets only what the batch changes:
the KPI cards, the header, the connection badges, the grids, the risk panel and toasts, and
capped appends to the charts. It declares a single output, the ack, and sets the rest with
``set_props``: a Dash request lists every declared output, so forty-odd outputs would cost
more bytes per batch than the batch itself. Figures are sent whole only when a snapshot
arrives (page open, reconnect, resync). The server sends the next batch only after the ack,
so no frame is overwritten before Dash reads it; a sequence gap (events the server had to
drop) asks for a fresh snapshot instead.

The browser draws the balance/equity chart first: every other update of the batch (cards,
grids, the other charts, the risk panel) goes to ``ids.LIVE_LATER``, which ``assets/mt5.js``
applies in the next task. Plotly redraws each chart in full on an append, and the three
redraws and the renderer's work on the rest would otherwise all come before the main chart
shows the new point. The stores the next request reads are set at once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from dash import ClientsideFunction, Dash, Input, Output, State, no_update, set_props

from callbacks.alerts import alert_updates
from callbacks.charts import GRAPHS, chart_outputs
from callbacks.kpis import day_start, kpi_outputs
from callbacks.routing import page_login
from callbacks.tables import count_text, grid_rows, rows_total, transaction_rows
from layouts import ids
from layouts.figures import LIVE_POINTS, drawdown_pct, live_series
from services import rowdiff
from services.brokertime import BrokerZone
from services.protocol import dumps
from services.runtime import Runtime
from services.timefmt import zone
from services.today import cash_flows

RESYNC_AFTER_BATCHES = 20
LINKS_EVERY_MS = 1_000  # link ages are shown in whole seconds
TRADE_MODES = {0: ("Demo", "pill pill-demo"), 1: ("Contest", "pill pill-contest"), 2: ("Real", "pill pill-real")}
MARGIN_MODES = {0: "Netting", 1: "Exchange", 2: "Hedging"}

GRIDS = {"positions": (ids.POSITIONS_GRID, ids.POSITIONS_COUNT), "orders": (ids.ORDERS_GRID, ids.ORDERS_COUNT)}
# What a replay (callbacks/replay.py) shows from the archive, and batches leave alone meanwhile: id → prop.
REPLAYED = {
    **{ids.kpi_value(name): "children" for name in ids.KPI_FIELDS},
    **{ids.kpi_delta(name): "children" for name in ids.KPI_FIELDS},
    ids.kpi_card("margin_level"): "className",
    **{grid: "rowData" for grid, _ in GRIDS.values()},
    **{count: "children" for _, count in GRIDS.values()},
}

Updates = dict[str, dict[str, Any]]  # component id → the props to set
MISSING = "missing"  # a batch that says nothing about the history sync
FIRST = {ids.EQUITY_GRAPH, ids.CHART_STATE, ids.BATCH_STATE, ids.DAY_START, ids.ALERTS_STATE}


def parse_message(message: Any) -> dict[str, Any] | None:
    """The WebSocket component hands over ``{"data": "<json text>", …}``; anything else is ignored."""
    if not isinstance(message, dict) or not isinstance(message.get("data"), str):
        return None
    try:
        parsed = json.loads(message["data"])
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) and "type" in parsed else None


@dataclass
class Batch:
    """The events of one frame, sorted out by kind."""

    seq: int | None
    ts: int
    snapshot: dict[str, Any] | None = None
    accounts: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    positions: list[dict[str, Any]] | None = None
    orders: list[dict[str, Any]] | None = None
    changes: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {name: [] for name in GRIDS})
    deals: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    redis_back: bool = False
    last_via_redis: int | None = None
    login: int | None = None
    collector: dict[str, Any] | None = None  # this account's row of the latest ``accounts`` event (monitor)

    @classmethod
    def of(cls, frame: dict[str, Any], login: int | None = None) -> Batch:
        """Events of this page's account (and link statuses, which belong to no account); others are dropped."""
        data = frame.get("data") if isinstance(frame.get("data"), dict) else {}
        seq = data.get("seq") if isinstance(data.get("seq"), int) else None
        batch = cls(seq, int(frame.get("ts") or 0), login=login)
        events = [
            e
            for e in data.get("events", [])
            if isinstance(e, dict) and isinstance(e.get("ts"), int) and e.get("account") in (None, login)
        ]
        snapshots = [i for i, e in enumerate(events) if e.get("type") == "snapshot" and isinstance(e.get("data"), dict)]
        if snapshots:
            batch.snapshot = events[snapshots[-1]]["data"]
            batch.status = dict(batch.snapshot.get("status") or {})
            events = events[snapshots[-1] + 1 :]
        for event in events:
            batch.add(event)
        return batch

    def add(self, event: dict[str, Any]) -> None:
        kind, data = event.get("type"), event.get("data")
        if event.get("account") is not None:
            self.last_via_redis = max(self.last_via_redis or 0, event["ts"])
        if kind == "account" and isinstance(data, dict):
            self.accounts.append((event["ts"], data))
        elif kind in GRIDS and isinstance(data, list):  # a whole list supersedes earlier changes
            setattr(self, kind, data)
            self.changes[kind] = []
        elif kind in GRIDS and isinstance(data, dict) and all(k in data for k in ("add", "update", "remove", "count")):
            self.changes[kind].append(data)
        elif kind == "deals" and isinstance(data, list):
            self.deals.extend(d for d in data if isinstance(d, dict))
        elif kind == "accounts" and isinstance(data, dict) and isinstance(data.get("accounts"), list):
            for row in data["accounts"]:
                if isinstance(row, dict) and row.get("login") == self.login:
                    self.collector = row
        elif kind in ("status", "heartbeat") and isinstance(data, dict):
            self.status.update(data)
            self.redis_back = self.redis_back or (data.get("link") == "redis" and data.get("redis") == "up")


def put(updates: Updates, component_id: str, prop: str, value: Any) -> None:
    updates.setdefault(component_id, {})[prop] = value


def badge(label: str, state: str | None, error: str | None) -> tuple[str, str] | None:
    if state is None:
        return None
    good, waiting = state in ("connected", "up"), state in ("starting", "reconnecting", "unknown")
    text = f"{label}: {state}" + (f" — {error}" if error and not good else "")
    return text, "badge " + ("badge-ok" if good else "badge-warn" if waiting else "badge-bad")


def header_updates(account: dict[str, Any], runtime: Runtime, own: bool = True) -> Updates:
    mode, mode_class = TRADE_MODES.get(account["trade_mode"], ("Unknown", "pill"))
    note = runtime.source.info.description if own else f"Account #{account['login']}, read from Redis"
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
    texts, deltas, level = kpi_outputs(account, day)
    updates: Updates = {ids.kpi_card("margin_level"): {"className": level}}
    for name, text, delta in zip(ids.KPI_FIELDS, texts, deltas, strict=True):
        updates[ids.kpi_value(name)] = {"children": text}
        if delta is not no_update:
            updates[ids.kpi_delta(name)] = {"children": delta}
    return updates


def links_data(batch: Batch, heartbeat_s: float) -> dict[str, Any]:
    """What this batch tells about the last MT5 poll, Redis message and frame (server clock);
    ``assets/mt5.js`` merges it into what it knows and ages it between pushes."""
    last: dict[str, int] = {"live": batch.ts}
    mt5 = max(batch.status.get("last_poll_ms") or 0, batch.accounts[-1][0] if batch.accounts else 0)
    if mt5:
        last["mt5"] = mt5
    if batch.last_via_redis:
        last["redis"] = batch.last_via_redis
    reasons: dict[str, Any] = {}
    if "mt5" in batch.status:
        reasons["mt5"] = batch.status.get("mt5_error") if batch.status["mt5"] != "connected" else None
    redis_state = batch.status.get("redis")
    if redis_state:
        reasons["redis"] = None if redis_state == "up" else redis_state
    silent: dict[str, str | None] = {}
    if batch.collector is not None:  # the monitor's word: stale within two poll intervals, not two heartbeats
        lag = batch.collector.get("lag_ms")
        since = f" for {lag / 1000:.1f} s" if isinstance(lag, int | float) else ""
        silent["mt5"] = f"no poll from its collector{since}" if batch.collector.get("stale") else None
    return {"last": last, "batch_ts": batch.ts, "period_ms": int(heartbeat_s * 1000), "reasons": reasons,
            "silent": silent}  # fmt: skip


def extend_updates(batch: Batch, chart: dict[str, Any], broker: BrokerZone) -> tuple[Updates, dict[str, Any]]:
    """Capped appends for the three charts, with only points newer than the last one drawn."""
    fresh = [(ts, data) for ts, data in batch.accounts if ts > chart.get("last_ts", 0)]
    if not fresh or not chart.get("live") or chart.get("login") is None:
        return {}, chart
    ts = [t for t, _ in fresh]
    x, hover = live_series(ts, zone(chart.get("tz")), broker)
    drawdown, peak = drawdown_pct([d["equity"] for _, d in fresh], float(chart.get("peak") or 0.0))
    level = [d["margin_level"] if d["margin"] > 0 else None for _, d in fresh]
    equity = {"x": [x, x], "y": [[d["balance"] for _, d in fresh], [d["equity"] for _, d in fresh]],
              "customdata": [hover, []]}  # fmt: skip
    margin = {"x": [x, x], "y": [[d["margin"] for _, d in fresh], level], "customdata": [hover, []]}
    underwater = {"x": [x], "y": [drawdown], "customdata": [hover]}
    extends = ([equity, [0, 1], LIVE_POINTS], [margin, [0, 1], LIVE_POINTS], [underwater, [0], LIVE_POINTS])
    updates = {graph: {"extendData": extend} for graph, extend in zip(GRAPHS, extends, strict=True)}
    return updates, {**chart, "last_ts": ts[-1], "peak": peak}


def register(app: Dash, runtime: Runtime) -> None:
    heartbeat_s = runtime.settings.heartbeat_s

    @app.callback(
        Output(ids.WS, "send"),
        Input(ids.WS, "message"),
        State(ids.BATCH_STATE, "data"),
        State(ids.CHART_STATE, "data"),
        State(ids.DAY_START, "data"),
        State(ids.ALERTS_STATE, "data"),
        State(ids.RANGE, "data"),
        State(ids.CLIENT, "data"),
        State(ids.THEME, "data"),
        State(ids.LOCATION, "pathname"),
        State(ids.REPLAY, "data"),
        prevent_initial_call=True,
    )
    def on_frame(message: Any, batch_state: Any, chart: Any, day: Any, alerts: Any, *page: Any) -> Any:
        frame = parse_message(message)
        if frame is None or frame["type"] != "batch":
            return no_update
        selection, client, theme, pathname, replay = page
        login = page_login(pathname, runtime)
        state = {"batch_state": batch_state, "chart": chart, "day": day, "selection": selection, "client": client,
                 "theme": theme, "login": login, "replay": replay}  # fmt: skip
        updates, send = apply_batch(Batch.of(frame, login), runtime, heartbeat_s, state)
        engine = app.server.extensions["mt5_risk"].alerts
        updates.update(alert_updates(frame, engine, alerts or {}, int(time.time() * 1000), login))
        later = {component_id: props for component_id, props in updates.items() if component_id not in FIRST}
        for component_id in FIRST & updates.keys():
            set_props(component_id, updates[component_id])
        if later:  # "live": what a replay that began while this batch was on its way keeps (assets/mt5.js)
            live = {component_id: later.pop(component_id) for component_id in REPLAYED.keys() & later.keys()}
            set_props(ids.LIVE_LATER, {"data": {"set": later, "live": live}})
        return send

    app.clientside_callback(
        ClientsideFunction(namespace="mt5", function_name="later"),
        Input(ids.LIVE_LATER, "data"),
        prevent_initial_call=True,
    )


def apply_batch(batch: Batch, runtime: Runtime, heartbeat_s: float, state: dict[str, Any]) -> tuple[Updates, Any]:
    """What one batch changes on the page, and the ack to send back."""
    out: Updates = {}
    chart = dict(state.get("chart") or {})
    day = state.get("day")
    client = state.get("client") or {}
    tz = zone(client.get("tz"))
    login = state.get("login")
    account = batch.accounts[-1][1] if batch.accounts else None
    previous = state.get("batch_state") or {}
    replay = state.get("replay") or {}
    replaying = replay.get("t_ms") is not None
    back_ms = replay.get("back_ms", previous.get("rebased"))
    sync, synced_now = history_sync(batch, previous)
    if batch.snapshot is not None:
        snap_account = batch.snapshot["account"]
        account = account or snap_account
        chart = reload_charts(out, runtime, state)
        out.update(header_updates(snap_account, runtime, own=snap_account["login"] == runtime.login()))
        day = day_start(runtime, snap_account, batch.ts)
        put(out, ids.DAY_START, "data", day)
        for kind in GRIDS:
            if getattr(batch, kind) is None:
                setattr(batch, kind, batch.snapshot.get(kind, []))
        put(out, ids.DEALS_VERSION, "data", batch.ts)
    elif account is not None and day and batch.accounts[-1][0] >= day.get("end_ms", 0):
        day = day_start(runtime, account, batch.accounts[-1][0])  # the broker's day rolled over
        put(out, ids.DAY_START, "data", day)
    if day and batch.deals:
        flows = cash_flows(batch.deals, day.get("flows_from_ms", day["start_ms"]))
        if flows:
            day = {**day, "flows": day.get("flows", 0.0) + flows}
            put(out, ids.DAY_START, "data", day)
    if account is not None and not replaying:
        out.update(kpi_updates(account, day))
    if synced_now and batch.snapshot is None:  # the whole history is in: draw it once, refetch grid and panels
        chart = reload_charts(out, runtime, state)
        put(out, ids.DEALS_VERSION, "data", batch.ts)
    elif batch.snapshot is None:
        extends, chart = extend_updates(batch, chart, runtime.broker_zone(login))
        out.update(extends)
    if chart != state.get("chart"):
        put(out, ids.CHART_STATE, "data", chart)
    # Back from a replay, the grids hold the latest snapshot, not the rows this socket's changes were made from.
    batch_state, send = sequence(batch, previous, rebase=back_ms != previous.get("rebased"))
    if back_ms is not None:
        batch_state["rebased"] = back_ms
    if sync is not MISSING:
        out.update(sync_updates(sync, previous.get("sync", MISSING)))
        batch_state["sync"] = sync
    elif "sync" in previous:
        batch_state["sync"] = previous["sync"]
    if not replaying:
        out.update(grid_updates(batch, tz, runtime.broker_zone(login), batch_state["synced"]))
    if batch.deals and batch.snapshot is None:
        put(out, ids.DEALS_VERSION, "data", batch.ts)
    for name, label, error in (("mt5", "MT5", "mt5_error"), ("redis", "Redis", "error")):
        shown = badge(label, batch.status.get(name), batch.status.get(error))
        if shown is not None:
            out[ids.link_badge(name)] = {"children": shown[0], "className": shown[1]}
    links = links_data(batch, heartbeat_s)
    if links["reasons"] or links["silent"] or batch.ts - previous.get("links_ms", 0) >= LINKS_EVERY_MS:
        put(out, ids.LINKS, "data", links)
        batch_state["links_ms"] = batch.ts
    else:
        batch_state["links_ms"] = previous.get("links_ms", 0)
    put(out, ids.BATCH_STATE, "data", batch_state)
    return out, send


def reload_charts(out: Updates, runtime: Runtime, state: dict[str, Any]) -> dict[str, Any]:
    """The three figures and the note read again from Redis; returns the new chart state."""
    selection, theme, login = state.get("selection"), state.get("theme"), state.get("login")
    *figures, chart, note = chart_outputs(runtime, selection, state.get("client") or {}, theme, login=login)
    for graph, figure in zip(GRAPHS, figures, strict=True):
        put(out, graph, "figure", figure)
    put(out, ids.CHART_NOTE, "children", note)
    return chart


def history_sync(batch: Batch, previous: dict[str, Any]) -> tuple[Any, bool]:
    """The batch's ``history_sync`` (``MISSING`` when it tells none), and whether it just finished.

    ``{"read", "total", "done"}`` while the source reads the terminal's deal history, None for a
    source with nothing to read.
    """
    if "history_sync" not in batch.status:
        return MISSING, False
    sync = batch.status["history_sync"]
    sync = sync if isinstance(sync, dict) or sync is None else None
    was = previous.get("sync")
    finished = isinstance(was, dict) and not was.get("done") and (sync is None or bool(sync.get("done")))
    return sync, finished


def sync_updates(sync: dict[str, Any] | None, shown: Any) -> Updates:
    """The progress line near the range bar, set only when it would look different."""
    if sync == shown:
        return {}
    if not sync or sync.get("done"):
        return {ids.HISTORY_SYNC: {"hidden": True}}
    read, total = int(sync.get("read") or 0), int(sync.get("total") or 0)
    of_total = f" of {total:,}" if total else ""
    return {
        ids.HISTORY_SYNC: {"hidden": False},
        ids.HISTORY_SYNC_TEXT: {"children": f"Reading history from the terminal: {read:,}{of_total} deals"},
        ids.HISTORY_SYNC_BAR: {"value": read, "max": max(total, read, 1)},
    }


def grid_updates(batch: Batch, tz: str, broker: BrokerZone, synced: bool) -> Updates:
    """The positions and orders grids: whole from a snapshot, else their changes as one transaction.

    Changes are made from the rows the socket sent before, so they apply only to those: not after
    a gap in ``seq`` (the page waits for the snapshot it asked for).
    """
    updates: Updates = {}
    for kind, (grid, count) in GRIDS.items():
        full, changes = getattr(batch, kind), batch.changes[kind]
        if full is not None:
            rows = grid_rows(kind, reduce(rowdiff.apply, changes, full), tz, broker)
            updates[grid] = {"rowData": rows}
            total = rows_total(rows) if kind == "positions" else None
            updates[count] = {"children": count_text(len(rows), total)}
        elif changes and synced:
            updates[grid] = {"rowTransaction": transaction_rows(kind, reduce(rowdiff.compose, changes), tz, broker)}
            updates[count] = {"children": count_text(changes[-1]["count"], changes[-1].get("pl"))}
    return updates


def sequence(batch: Batch, previous: dict[str, Any], rebase: bool = False) -> tuple[dict[str, Any], Any]:
    """Acknowledge the batch (the server sends the next only then), asking for a snapshot once
    when one is missing, a number was skipped (events lost) or Redis came back; ``rebase`` asks
    at once (the page's rows were replaced)."""
    if batch.snapshot is not None:
        state: dict[str, Any] = {"seq": batch.seq, "synced": True}
        return state, dumps({"type": "ack", "seq": batch.seq}) if batch.seq is not None else no_update
    last = previous.get("seq")
    gap = last is not None and batch.seq is not None and batch.seq != last + 1
    needed = gap or not previous.get("synced") or batch.redis_back or rebase
    asked = previous.get("asked")
    state = {key: previous[key] for key in ("asked",) if key in previous}
    state.update(seq=batch.seq, synced=previous.get("synced", False) and not needed)
    resync = needed and (rebase or asked is None or batch.seq is None or batch.seq - asked >= RESYNC_AFTER_BATCHES)
    if resync:
        state["asked"] = batch.seq
    if batch.seq is None:
        return state, dumps({"type": "snapshot"}) if resync else no_update
    return state, dumps({"type": "ack", "seq": batch.seq, "resync": resync})
