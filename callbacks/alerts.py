"""The risk panel, the alert banner and toasts, moved by ``/ws`` frames; the rule editor; browser notifications.

Alerts are raised on the server (``services/alerts.py``) whether or not a page is open; the page only shows
them. The ``alert`` events of each frame become toasts (and browser notifications once the user opted in),
and the panel is redrawn from the engine's live status at most twice a second.
"""

from __future__ import annotations

import time
from typing import Any

from dash import ClientsideFunction, Dash, Input, Output, State, ctx, no_update

from callbacks.live import parse_message
from layouts import ids
from layouts.alerts import HIDDEN, banner, rule_row, toast
from services.redis_conn import REDIS_ERRORS
from services.risk import RiskEngine
from services.rules import RuleError, parse_rules_text
from services.runtime import Runtime

TOAST_MS = 10_000
MAX_TOASTS = 4
REDRAW_MS = 500
SOURCES = {"default": "built-in margin rules", "file": "from RULES_FILE", "page": "edited on this page"}
EDITOR_SHOWN = {"display": "block", "marginTop": "10px"}
FRAME_OUTPUTS = 7


def frame_alerts(frame: dict[str, Any]) -> list[dict[str, Any]]:
    """The alerts in one frame: a ``batch`` frame's ``alert`` events, or a single unbatched ``alert``."""
    if frame.get("type") == "alert":
        events = [frame]
    elif frame.get("type") == "batch" and isinstance(frame.get("data"), dict):
        events = frame["data"].get("events") or []
    else:
        return []
    return [
        e["data"]
        for e in events
        if isinstance(e, dict) and e.get("type") == "alert" and isinstance(e.get("data"), dict)
    ]


def frame_outputs(
    frame: dict[str, Any], status: dict[str, Any], recent: list[dict[str, Any]], state: dict[str, Any], now_ms: int
) -> tuple[Any, ...]:
    """Panel rows, source note, banner, toasts, the new page state and the new alerts; no_update if unchanged.

    New alerts are those of the frame plus the engine's ``recent`` ones, after the page's cursor
    (``seen_ms``): a frame whose callback result Dash dropped is caught up with at the next one.
    """
    seen_ms = state.get("seen_ms", now_ms - TOAST_MS)
    by_id = {alert["id"]: alert for alert in [*recent, *frame_alerts(frame)] if alert.get("ts", 0) > seen_ms}
    new = sorted(by_id.values(), key=lambda alert: alert["ts"])
    shown = [t for t in state.get("toasts", []) if now_ms - t["shown_ms"] < TOAST_MS]
    toasts = (shown + [{"alert": alert, "shown_ms": now_ms} for alert in new])[-MAX_TOASTS:]
    toasts_changed = toasts != state.get("toasts", [])
    redraw = bool(new) or now_ms - state.get("drawn_ms", 0) >= REDRAW_MS
    if not redraw and not toasts_changed and "seen_ms" in state:
        return (no_update,) * FRAME_OUTPUTS
    rows_out: Any = no_update
    source: Any = no_update
    banner_children: Any = no_update
    banner_style: Any = no_update
    drawn_ms = state.get("drawn_ms", 0)
    if redraw:
        rows = status.get("rules", [])
        rows_out = [rule_row(row) for row in rows] if status.get("account") is not None else "Waiting for account data…"
        source = " · ".join(p for p in (status.get("name"), SOURCES.get(status.get("source", ""), "")) if p)
        banner_children, banner_style = banner(rows)
        drawn_ms = now_ms
    seen_ms = max([seen_ms, *(alert["ts"] for alert in new)])
    return (
        rows_out,
        source,
        banner_children,
        banner_style,
        [toast(t["alert"]) for t in toasts] if toasts_changed else no_update,
        {"toasts": toasts, "drawn_ms": drawn_ms, "seen_ms": seen_ms},
        new or no_update,
    )


def editor_action(
    action: str | None, text: str | None, style: dict[str, Any] | None, risk: RiskEngine, login: int | None
) -> tuple[Any, Any, Any]:
    """(editor style, editor text, message) for the Edit, Save and Revert buttons."""
    engine = risk.alerts
    if action == ids.RULES_EDIT:
        if style and style.get("display") != "none":
            return HIDDEN, no_update, ""
        return EDITOR_SHOWN, engine.rules(login).to_yaml(), ""
    if login is None:
        return no_update, no_update, "No account yet: the MT5 source has not answered."
    try:
        if action == ids.RULES_SAVE:
            saved = engine.set_rules(login, parse_rules_text(text or "", "yaml", source="page"))
            return no_update, no_update, f"Saved {len(saved.rules)} rule(s); they apply from the next poll."
        restored = engine.reset_rules(login)
        return no_update, restored.to_yaml(), f"Back to the {SOURCES[restored.source]}."
    except RuleError as exc:
        return no_update, no_update, f"Not saved: {exc}"
    except REDIS_ERRORS as exc:
        return no_update, no_update, f"Not saved: Redis is unavailable ({type(exc).__name__}); retry shortly."


def register(app: Dash, runtime: Runtime) -> None:
    def risk() -> RiskEngine:
        return app.server.extensions["mt5_risk"]

    @app.callback(
        Output(ids.RULES_ROWS, "children"),
        Output(ids.RULES_SOURCE, "children"),
        Output(ids.ALERTS_BANNER, "children"),
        Output(ids.ALERTS_BANNER, "style"),
        Output(ids.ALERTS_TOASTS, "children"),
        Output(ids.ALERTS_STATE, "data"),
        Output(ids.ALERTS_NEW, "data"),
        Input(ids.WS, "message"),
        State(ids.ALERTS_STATE, "data"),
        prevent_initial_call=True,
    )
    def on_frame(message: Any, state: dict[str, Any] | None) -> tuple[Any, ...]:
        frame = parse_message(message)
        if frame is None:
            return (no_update,) * FRAME_OUTPUTS
        engine, state, now_ms = risk().alerts, state or {}, int(time.time() * 1000)
        recent = engine.recent(state.get("seen_ms", now_ms - TOAST_MS))
        return frame_outputs(frame, engine.live_status(), recent, state, now_ms)

    @app.callback(
        Output(ids.RULES_EDITOR_WRAP, "style"),
        Output(ids.RULES_EDITOR, "value"),
        Output(ids.RULES_MESSAGE, "children"),
        Input(ids.RULES_EDIT, "n_clicks"),
        Input(ids.RULES_SAVE, "n_clicks"),
        Input(ids.RULES_REVERT, "n_clicks"),
        State(ids.RULES_EDITOR_WRAP, "style"),
        State(ids.RULES_EDITOR, "value"),
        prevent_initial_call=True,
    )
    def edit_rules(_edit: Any, _save: Any, _revert: Any, style: Any, text: str | None) -> tuple[Any, Any, Any]:
        return editor_action(ctx.triggered_id, text, style, risk(), runtime.login())

    app.clientside_callback(
        ClientsideFunction(namespace="mt5alerts", function_name="toggle"),
        Output(ids.ALERTS_NOTIFY, "data"),
        Output(ids.ALERTS_NOTIFY_BUTTON, "children"),
        Input(ids.ALERTS_NOTIFY_BUTTON, "n_clicks"),
        State(ids.ALERTS_NOTIFY, "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="mt5alerts", function_name="notify"),
        Output(ids.ALERTS_NOTIFY_BUTTON, "title"),
        Input(ids.ALERTS_NEW, "data"),
        State(ids.ALERTS_NOTIFY, "data"),
        prevent_initial_call=True,
    )
