"""The risk panel, the alert banner and toasts, moved by ``/ws`` frames; the rule editor; browser notifications.

Alerts are raised on the server (``services/alerts.py``) whether or not a page is open; the page only shows
them. The live dispatcher (``callbacks/live.py``) hands every frame here: its ``alert`` events become
toasts (and browser notifications once the user opted in), and the panel is redrawn from the engine's live
status at most once a second, and only when what it shows changed.
"""

from __future__ import annotations

import zlib
from typing import Any

from dash import ClientsideFunction, Dash, Input, Output, State, ctx, no_update

from layouts import ids
from layouts.alerts import HIDDEN, banner, rule_row, toast
from services.alerts import AlertEngine
from services.archive import ArchiveUnavailable
from services.redis_conn import REDIS_ERRORS
from services.risk import RiskEngine
from services.rules import RuleError, parse_rules_text
from services.runtime import Runtime

TOAST_MS = 10_000
MAX_TOASTS = 4
REDRAW_MS = 1_000
SOURCES = {"default": "built-in margin rules", "file": "from RULES_FILE", "page": "edited on this page"}
EDITOR_SHOWN = {"display": "block", "marginTop": "10px"}


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


def panel_digest(status: dict[str, Any]) -> int:
    """A checksum of the panel as it would be drawn (countdowns show whole minutes)."""
    rows = [{**row, "reset_in_s": int(row["reset_in_s"] // 60)} if "reset_in_s" in row else row
            for row in status.get("rules", [])]  # fmt: skip
    return zlib.crc32(repr((status.get("account"), status.get("name"), status.get("source"), rows)).encode())


def frame_updates(
    frame: dict[str, Any], status: dict[str, Any], recent: list[dict[str, Any]], state: dict[str, Any], now_ms: int
) -> dict[str, dict[str, Any]]:
    """The panel rows, source note, banner, toasts, page state and new alerts this frame changes (by id).

    New alerts are those of the frame plus the engine's ``recent`` ones, after the page's cursor
    (``seen_ms``): whatever a missed frame carried is caught up with at the next one.
    """
    seen_ms = state.get("seen_ms", now_ms - TOAST_MS)
    by_id = {alert["id"]: alert for alert in [*recent, *frame_alerts(frame)] if alert.get("ts", 0) > seen_ms}
    new = sorted(by_id.values(), key=lambda alert: alert["ts"])
    shown = [t for t in state.get("toasts", []) if now_ms - t["shown_ms"] < TOAST_MS]
    toasts = (shown + [{"alert": alert, "shown_ms": now_ms} for alert in new])[-MAX_TOASTS:]
    toasts_changed = toasts != state.get("toasts", [])
    redraw = bool(new) or now_ms - state.get("drawn_ms", 0) >= REDRAW_MS
    if not redraw and not toasts_changed and "seen_ms" in state:
        return {}
    updates: dict[str, dict[str, Any]] = {}
    drawn_ms, drawn = state.get("drawn_ms", 0), state.get("drawn")
    if redraw:
        drawn_ms = now_ms
        rows = status.get("rules", [])
        digest = panel_digest(status)
        if digest != drawn:
            drawn = digest
            waiting = status.get("account") is None
            shown_rows = "Waiting for account data…" if waiting else [rule_row(row) for row in rows]
            updates[ids.RULES_ROWS] = {"children": shown_rows}
            updates[ids.RULES_SOURCE] = {
                "children": " · ".join(p for p in (status.get("name"), SOURCES.get(status.get("source", ""), "")) if p)
            }
            banner_children, banner_style = banner(rows)
            updates[ids.ALERTS_BANNER] = {"children": banner_children, "style": banner_style}
    if toasts_changed:
        updates[ids.ALERTS_TOASTS] = {"children": [toast(t["alert"]) for t in toasts]}
    if new:
        updates[ids.ALERTS_NEW] = {"data": new}
    seen_ms = max([seen_ms, *(alert["ts"] for alert in new)])
    updates[ids.ALERTS_STATE] = {"data": {"toasts": toasts, "drawn_ms": drawn_ms, "drawn": drawn, "seen_ms": seen_ms}}
    return updates


def alert_updates(
    frame: dict[str, Any], engine: AlertEngine, state: dict[str, Any], now_ms: int, login: int | None = None
) -> dict[str, dict[str, Any]]:
    """What one frame changes in the page's account's risk panel, banner and toasts.

    A collector's account is evaluated in its own process: its readings come from Redis, and no
    alert of the account this process evaluates is shown on its page.
    """
    recent = engine.recent(state.get("seen_ms", now_ms - TOAST_MS), login)
    try:
        status = engine.live_status(login)
    except REDIS_ERRORS:
        status = {"account": login, "rules": []}
    return frame_updates(frame, status, recent, state, now_ms)


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
    except ArchiveUnavailable as exc:
        return no_update, no_update, f"Not saved: the archive did not take it ({exc}); retry shortly."


def register(app: Dash, runtime: Runtime) -> None:
    def risk() -> RiskEngine:
        return app.server.extensions["mt5_risk"]

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
