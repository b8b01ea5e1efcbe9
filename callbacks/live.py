"""The live dispatcher: every ``/ws`` batch becomes one update of the whole page.

One callback (one request per batch, at most 10 a second) updates the KPI cards, the
header, the connection badges, the grids and appends to the charts. Figures are sent
whole only when a snapshot arrives (page open, reconnect, resync); after that each batch
is a capped ``extendData`` append. Every batch is acknowledged over the socket and the
server sends the next one only then, so no frame is overwritten before Dash reads it; a
sequence gap (events the server had to drop) asks for a fresh snapshot instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dash import Dash, Input, Output, State, no_update

from callbacks.charts import GRAPHS, chart_outputs
from callbacks.kpis import cash_flows, day_start, kpi_outputs
from callbacks.routing import page_login
from callbacks.tables import count_text, order_rows, position_rows
from layouts import ids
from layouts.figures import LIVE_POINTS, drawdown_pct
from services.runtime import Runtime
from services.store import dumps
from services.timefmt import local_times, server_times, zone

RESYNC_AFTER_BATCHES = 20
TRADE_MODES = {0: ("Demo", "pill pill-demo"), 1: ("Contest", "pill pill-contest"), 2: ("Real", "pill pill-real")}
MARGIN_MODES = {0: "Netting", 1: "Exchange", 2: "Hedging"}


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
    deals: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    redis_back: bool = False
    last_via_redis: int | None = None

    @classmethod
    def of(cls, frame: dict[str, Any], login: int | None = None) -> Batch:
        """Events of this page's account (and link statuses, which belong to no account); others are dropped."""
        data = frame.get("data") if isinstance(frame.get("data"), dict) else {}
        seq = data.get("seq") if isinstance(data.get("seq"), int) else None
        batch = cls(seq, int(frame.get("ts") or 0))
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
        elif kind == "positions" and isinstance(data, list):
            self.positions = data
        elif kind == "orders" and isinstance(data, list):
            self.orders = data
        elif kind == "deals" and isinstance(data, list):
            self.deals.extend(d for d in data if isinstance(d, dict))
        elif kind in ("status", "heartbeat") and isinstance(data, dict):
            self.status.update(data)
            self.redis_back = self.redis_back or (data.get("link") == "redis" and data.get("redis") == "up")


def badge(label: str, state: str | None, error: str | None) -> tuple[Any, Any]:
    if state is None:
        return no_update, no_update
    good, waiting = state in ("connected", "up"), state in ("starting", "reconnecting", "unknown")
    text = f"{label}: {state}" + (f" — {error}" if error and not good else "")
    return text, "badge " + ("badge-ok" if good else "badge-warn" if waiting else "badge-bad")


def header_outputs(account: dict[str, Any], runtime: Runtime, own: bool = True) -> dict[str, Any]:
    mode, mode_class = TRADE_MODES.get(account["trade_mode"], ("Unknown", "pill"))
    return {
        "title": f"{account['name']} · #{account['login']}",
        "details": f"{account['server']} · {account['company']} · {account['currency']} · 1:{account['leverage']}",
        "trade_mode": mode,
        "trade_mode_class": mode_class,
        "margin_mode": MARGIN_MODES.get(account["margin_mode"], "—"),
        "note": runtime.source.info.description if own else f"Account #{account['login']}, read from Redis",
    }


def links_data(batch: Batch, previous: dict[str, Any] | None, heartbeat_s: float) -> dict[str, Any]:
    """Server-clock times of the last MT5 poll, Redis message and frame, for ``assets/mt5.js`` to age."""
    last = dict((previous or {}).get("last") or {})
    last["live"] = batch.ts
    if batch.status.get("last_poll_ms"):
        last["mt5"] = batch.status["last_poll_ms"]
    if batch.accounts:
        last["mt5"] = max(last.get("mt5") or 0, batch.accounts[-1][0])
    if batch.last_via_redis:
        last["redis"] = max(last.get("redis") or 0, batch.last_via_redis)
    reasons = dict((previous or {}).get("reasons") or {})
    if "mt5" in batch.status:
        reasons["mt5"] = batch.status.get("mt5_error") if batch.status["mt5"] != "connected" else None
    redis_state = batch.status.get("redis")
    if redis_state:
        reasons["redis"] = None if redis_state == "up" else redis_state
    return {"last": last, "batch_ts": batch.ts, "period_ms": int(heartbeat_s * 1000), "reasons": reasons}


def extend_outputs(batch: Batch, chart: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Capped appends for the three charts, with only points newer than the last one drawn."""
    fresh = [(ts, data) for ts, data in batch.accounts if ts > chart.get("last_ts", 0)]
    if not fresh or not chart.get("live") or chart.get("login") is None:
        return [no_update] * len(GRAPHS), chart
    ts = [t for t, _ in fresh]
    x = local_times(ts, zone(chart.get("tz")))
    hover = server_times(ts, int(chart.get("offset_s", 0)))
    drawdown, peak = drawdown_pct([d["equity"] for _, d in fresh], float(chart.get("peak") or 0.0))
    level = [d["margin_level"] if d["margin"] > 0 else None for _, d in fresh]
    equity = {"x": [x, x], "y": [[d["balance"] for _, d in fresh], [d["equity"] for _, d in fresh]],
              "customdata": [hover, hover]}  # fmt: skip
    margin = {"x": [x, x], "y": [[d["margin"] for _, d in fresh], level], "customdata": [hover, hover]}
    underwater = {"x": [x], "y": [drawdown], "customdata": [hover]}
    extends = [[equity, [0, 1], LIVE_POINTS], [margin, [0, 1], LIVE_POINTS], [underwater, [0], LIVE_POINTS]]
    return extends, {**chart, "last_ts": ts[-1], "peak": peak}


def register(app: Dash, runtime: Runtime) -> None:
    heartbeat_s = runtime.settings.heartbeat_s

    @app.callback(
        output={
            "kpi_values": [Output(ids.kpi_value(f), "children") for f in ids.KPI_FIELDS],
            "kpi_deltas": [Output(ids.kpi_delta(f), "children") for f in ids.KPI_FIELDS],
            "level_class": Output(ids.kpi_card("margin_level"), "className"),
            "figures": [Output(g, "figure", allow_duplicate=True) for g in GRAPHS],
            "extends": [Output(g, "extendData") for g in GRAPHS],
            "chart": Output(ids.CHART_STATE, "data", allow_duplicate=True),
            "chart_note": Output(ids.CHART_NOTE, "children", allow_duplicate=True),
            "title": Output(ids.ACCOUNT_TITLE, "children"),
            "details": Output(ids.ACCOUNT_DETAILS, "children"),
            "trade_mode": Output(ids.TRADE_MODE, "children"),
            "trade_mode_class": Output(ids.TRADE_MODE, "className"),
            "margin_mode": Output(ids.MARGIN_MODE, "children"),
            "note": Output(ids.SOURCE_NOTE, "children"),
            "badges": [Output(ids.link_badge(n), p) for n in ("mt5", "redis") for p in ("children", "className")],
            "links": Output(ids.LINKS, "data"),
            "day": Output(ids.DAY_START, "data"),
            "positions": Output(ids.POSITIONS_GRID, "rowData"),
            "orders": Output(ids.ORDERS_GRID, "rowData"),
            "positions_count": Output(ids.POSITIONS_COUNT, "children"),
            "orders_count": Output(ids.ORDERS_COUNT, "children"),
            "deals_version": Output(ids.DEALS_VERSION, "data"),
            "batch_state": Output(ids.BATCH_STATE, "data"),
            "send": Output(ids.WS, "send"),
        },
        inputs={"message": Input(ids.WS, "message")},
        state={
            "chart": State(ids.CHART_STATE, "data"),
            "links": State(ids.LINKS, "data"),
            "day": State(ids.DAY_START, "data"),
            "batch_state": State(ids.BATCH_STATE, "data"),
            "deals_version": State(ids.DEALS_VERSION, "data"),
            "selection": State(ids.RANGE, "data"),
            "client": State(ids.CLIENT, "data"),
            "theme": State(ids.THEME, "data"),
            "pathname": State(ids.LOCATION, "pathname"),
        },
        prevent_initial_call=True,
    )
    def on_frame(message: Any, **state: Any) -> dict[str, Any]:
        frame = parse_message(message)
        if frame is None or frame["type"] != "batch":
            return unchanged()
        login = page_login(state.get("pathname"), runtime)
        return apply_batch(Batch.of(frame, login), runtime, heartbeat_s, {**state, "login": login})


def unchanged() -> dict[str, Any]:
    n, g = len(ids.KPI_FIELDS), len(GRAPHS)
    single = ("level_class", "chart", "chart_note", "title", "details", "trade_mode", "trade_mode_class",
              "margin_mode", "note", "links", "day", "positions", "orders", "positions_count", "orders_count",
              "deals_version", "batch_state", "send")  # fmt: skip
    return {
        "kpi_values": [no_update] * n,
        "kpi_deltas": [no_update] * n,
        "figures": [no_update] * g,
        "extends": [no_update] * g,
        "badges": [no_update] * 4,
        **dict.fromkeys(single, no_update),
    }


def apply_batch(batch: Batch, runtime: Runtime, heartbeat_s: float, state: dict[str, Any]) -> dict[str, Any]:
    out = unchanged()
    chart = dict(state.get("chart") or {})
    day = state.get("day")
    client = state.get("client") or {}
    tz = zone(client.get("tz"))
    login = state.get("login")
    account = batch.accounts[-1][1] if batch.accounts else None
    if batch.snapshot is not None:
        snap_account = batch.snapshot["account"]
        account = account or snap_account
        figures = chart_outputs(runtime, state.get("selection"), client, state.get("theme"), login=login)
        out["figures"], chart, out["chart_note"] = list(figures[:3]), figures[3], figures[4]
        out.update(header_outputs(snap_account, runtime, own=snap_account["login"] == runtime.login()))
        day = day_start(runtime, snap_account, batch.ts)
        out["day"] = day
        batch.positions = batch.positions if batch.positions is not None else batch.snapshot.get("positions", [])
        batch.orders = batch.orders if batch.orders is not None else batch.snapshot.get("orders", [])
        out["deals_version"] = (state.get("deals_version") or 0) + 1
    elif account is not None and day and batch.accounts[-1][0] >= day.get("end_ms", 0):
        day = day_start(runtime, account, batch.accounts[-1][0])  # the broker's day rolled over
        out["day"] = day
    if day and batch.deals:
        flows = cash_flows(batch.deals, day["start_ms"])
        if flows:
            day = {**day, "flows": day.get("flows", 0.0) + flows}
            out["day"] = day
    if account is not None:
        out["kpi_values"], out["kpi_deltas"], out["level_class"] = kpi_outputs(account, day)
    if batch.snapshot is None:
        out["extends"], chart = extend_outputs(batch, chart)
        out["chart"] = chart
    else:
        out["chart"] = chart
    offset_s = int(chart.get("offset_s", 0)) if chart.get("login") == login else runtime.server_offset_s(login)
    if batch.positions is not None:
        out["positions"] = position_rows(batch.positions, tz, offset_s)
        out["positions_count"] = count_text(out["positions"], profit=True)
    if batch.orders is not None:
        out["orders"] = order_rows(batch.orders, tz, offset_s)
        out["orders_count"] = count_text(out["orders"], profit=False)
    if batch.deals and batch.snapshot is None:
        out["deals_version"] = (state.get("deals_version") or 0) + 1
    out["badges"] = [*badge("MT5", batch.status.get("mt5"), batch.status.get("mt5_error")),
                     *badge("Redis", batch.status.get("redis"), batch.status.get("error"))]  # fmt: skip
    out["links"] = links_data(batch, state.get("links"), heartbeat_s)
    out["batch_state"], out["send"] = sequence(batch, state.get("batch_state") or {})
    return out


def sequence(batch: Batch, previous: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Acknowledge the batch (the server sends the next only then), asking for a snapshot once
    when one is missing, a number was skipped (events lost) or Redis came back."""
    if batch.snapshot is not None:
        state: dict[str, Any] = {"seq": batch.seq, "synced": True}
        return state, dumps({"type": "ack", "seq": batch.seq}) if batch.seq is not None else no_update
    last = previous.get("seq")
    gap = last is not None and batch.seq is not None and batch.seq != last + 1
    needed = gap or not previous.get("synced") or batch.redis_back
    asked = previous.get("asked")
    state = {**previous, "seq": batch.seq, "synced": previous.get("synced", False) and not needed}
    resync = needed and (asked is None or batch.seq is None or batch.seq - asked >= RESYNC_AFTER_BATCHES)
    if resync:
        state["asked"] = batch.seq
    if batch.seq is None:
        return state, dumps({"type": "snapshot"}) if resync else no_update
    return state, dumps({"type": "ack", "seq": batch.seq, "resync": resync})
