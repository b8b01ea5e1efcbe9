"""Live KPI cards, connection badges and the balance/equity chart, moved by ``/ws`` pushes.

The figure is sent whole only when a (re)connection brings a snapshot; every
update after that is a capped ``extendData`` append of one point per trace.
"""

from __future__ import annotations

import json
from typing import Any

from dash import ClientsideFunction, Dash, Input, Output, State, no_update

from layouts import ids
from layouts.figures import LIVE_POINTS, equity_figure
from services.formatting import margin_level, money
from services.models import HistoryPoint
from services.redis_conn import REDIS_ERRORS
from services.runtime import Runtime
from services.store import HISTORY_FIELDS, dumps

HISTORY_ON_OPEN = 5_000
RESYNC_AFTER_BATCHES = 20
KPI_OUTPUTS = [Output(ids.kpi_value(field), "children") for field in ids.KPI_FIELDS]
WS_STATES = {0: ("connecting…", "badge-warn"), 1: ("connected", "badge-ok"), 2: ("closing…", "badge-warn")}


def parse_message(message: Any) -> dict[str, Any] | None:
    """The WebSocket component hands over ``{"data": "<json text>", …}``; anything else is ignored."""
    if not isinstance(message, dict) or not isinstance(message.get("data"), str):
        return None
    try:
        parsed = json.loads(message["data"])
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) and "type" in parsed else None


def kpi_texts(account: dict[str, Any]) -> list[str]:
    currency, digits = account.get("currency", ""), int(account.get("currency_digits", 2))
    return [
        money(account["balance"], currency, digits),
        money(account["equity"], currency, digits),
        money(account["profit"], currency, digits, signed=True),
        money(account["margin"], currency, digits),
        money(account["margin_free"], currency, digits),
        margin_level(account["margin_level"], account["margin"]),
    ]


def badges(status: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """MT5 and Redis badge texts and classes from a streamer status (or a fan-out link status)."""
    mt5_text, mt5_class = no_update, no_update
    if "mt5" in status:
        state = status["mt5"]
        mt5_text = f"MT5: {state}" + (
            f" — {status['mt5_error']}" if status.get("mt5_error") and state != "connected" else ""
        )
        mt5_class = "badge " + (
            "badge-ok"
            if state == "connected"
            else "badge-warn"
            if state in ("starting", "reconnecting")
            else "badge-bad"
        )
    redis_state = status.get("redis")
    redis_text = f"Redis: {redis_state}" if redis_state else no_update
    redis_class = ("badge " + ("badge-ok" if redis_state == "up" else "badge-bad")) if redis_state else no_update
    return mt5_text, mt5_class, redis_text, redis_class


def register(app: Dash, runtime: Runtime) -> None:
    app.clientside_callback(
        ClientsideFunction(namespace="mt5", function_name="reconnect"),
        Output(ids.WS, "url"),
        Input(ids.WS, "state"),
        State(ids.WS, "url"),
    )

    @app.callback(
        Output(ids.LINK_BADGE, "children"),
        Output(ids.LINK_BADGE, "className"),
        Input(ids.WS, "state"),
    )
    def link_badge(state: dict[str, Any] | None) -> tuple[str, str]:
        ready = (state or {}).get("readyState", 3)
        text, css = WS_STATES.get(ready, ("reconnecting…", "badge-bad"))
        return f"Live: {text}", f"badge {css}"

    @app.callback(
        *KPI_OUTPUTS,
        Output(ids.EQUITY_GRAPH, "figure"),
        Output(ids.EQUITY_GRAPH, "extendData"),
        Output(ids.CHART_STATE, "data"),
        Output(ids.ACCOUNT_TITLE, "children"),
        Output(ids.SOURCE_NOTE, "children"),
        Output(ids.MT5_BADGE, "children"),
        Output(ids.MT5_BADGE, "className"),
        Output(ids.REDIS_BADGE, "children"),
        Output(ids.REDIS_BADGE, "className"),
        Output(ids.WS, "send"),
        Input(ids.WS, "message"),
        State(ids.CHART_STATE, "data"),
        prevent_initial_call=True,
    )
    def on_message(message: Any, chart: dict[str, Any] | None) -> tuple[Any, ...]:
        frame = parse_message(message)
        if frame is None or frame["type"] != "batch" or not isinstance(frame.get("data"), dict):
            return (no_update,) * (len(KPI_OUTPUTS) + 10)
        return apply_batch(frame["data"], chart or {}, runtime)


def apply_batch(batch: dict[str, Any], chart: dict[str, Any], runtime: Runtime) -> tuple[Any, ...]:
    """Fold one numbered batch of events into the page's outputs.

    A snapshot rebuilds the figure from Redis history; account events after it
    become one capped append. A sequence gap (the browser only hands Dash the
    latest frame) asks the server for a fresh snapshot, so points are never lost.
    """
    events = [e for e in batch.get("events", []) if isinstance(e, dict) and isinstance(e.get("data"), (dict, list))]
    seq = batch.get("seq")
    kpis: list[Any] = [no_update] * len(KPI_OUTPUTS)
    figure: Any = no_update
    title: Any = no_update
    note: Any = no_update
    status: dict[str, Any] = {}
    last_seq = chart.get("seq")
    gap = last_seq is not None and isinstance(seq, int) and seq != last_seq + 1
    resync = gap or chart.get("login") is None
    snapshots = [i for i, e in enumerate(events) if e["type"] == "snapshot"]
    if snapshots:
        snapshot = events[snapshots[-1]]
        account = snapshot["data"]["account"]
        history = history_or_empty(runtime, account["login"])
        currency = account["currency"]
        chart = {"login": account["login"], "last_ts": history[-1].ts if history else 0}
        kpis = kpi_texts(account)
        title, note = header_texts(account, runtime)
        status = snapshot["data"].get("status") or {}
        events = events[snapshots[-1] + 1 :]
        resync = False
    new_points: list[HistoryPoint] = []
    last_ts = chart.get("last_ts", 0)
    for item in events:
        kind, data = item["type"], item["data"]
        if kind == "account" and isinstance(data, dict):
            kpis = kpi_texts(data)
            if item["ts"] > last_ts:
                last_ts = item["ts"]
                new_points.append(HistoryPoint(item["ts"], *(float(data[name]) for name in HISTORY_FIELDS)))
        elif kind in ("status", "heartbeat") and isinstance(data, dict):
            status = {**status, **data}
            if data.get("link") == "redis" and data.get("redis") == "up":
                resync = True  # events published while Redis was down never reached us
    extend: Any = no_update
    if snapshots:
        figure = equity_figure(history + new_points, currency)
    elif new_points:
        xs = [p.ts for p in new_points]
        extend = [
            {"x": [xs, xs], "y": [[p.balance for p in new_points], [p.equity for p in new_points]]},
            [0, 1],
            LIVE_POINTS,
        ]
    send: Any = no_update
    if resync and _may_request_snapshot(chart, seq):
        send = dumps({"type": "snapshot"})
        chart = {**chart, "resync_seq": seq}
    chart = {**chart, "last_ts": last_ts, "seq": seq}
    return (*kpis, figure, extend, chart, title, note, *badges(status), send)


def history_or_empty(runtime: Runtime, login: int) -> list[HistoryPoint]:
    """Stored history, or none while Redis is down: the page still shows the live state."""
    try:
        return runtime.store.history(login, count=HISTORY_ON_OPEN)
    except REDIS_ERRORS:
        return []


def _may_request_snapshot(chart: dict[str, Any], seq: Any) -> bool:
    """One request per gap: wait ~2 s (20 batches) for the answer before asking again."""
    asked = chart.get("resync_seq")
    return asked is None or not isinstance(seq, int) or seq - asked >= RESYNC_AFTER_BATCHES


def header_texts(account: dict[str, Any], runtime: Runtime) -> tuple[str, str]:
    title = f"{account['name']} · {account['login']} · {account['server']}"
    note = f"{runtime.source.info.description} · {account['company']} · 1:{account['leverage']} · {account['currency']}"
    return title, note
