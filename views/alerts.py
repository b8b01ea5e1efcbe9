"""The risk panel, the alert banner and toasts of one page view.

Alerts are raised on the server (``services/risk/engine.py``) whether or not a page is open; a view only shows
them: each ``alert`` event becomes a toast (and a browser notification once the user opted in), and the
panel is redrawn from the engine's live status at most once a second, and only when what it shows changed.
"""

from __future__ import annotations

import zlib
from typing import Any

from layouts import ids
from layouts.alerts import banner, rule_row, toast
from services.live.render import Updates
from services.risk.engine import AlertEngine
from services.storage.redis_conn import REDIS_ERRORS

TOAST_MS = 10_000
MAX_TOASTS = 4
REDRAW_MS = 1_000
# Where the rules in force came from: a saved ruleset's source is its origin (records.ORIGINS), page or API.
SOURCES = {"default": "built-in margin rules", "file": "from RULES_FILE", "page": "edited on this page",
           "api": "sent with PUT /rules"}  # fmt: skip


def panel_digest(status: dict[str, Any]) -> int:
    """A checksum of the panel as it would be drawn (countdowns show whole minutes)."""
    rows = [{**row, "reset_in_s": int(row["reset_in_s"] // 60)} if "reset_in_s" in row else row
            for row in status.get("rules", [])]  # fmt: skip
    return zlib.crc32(repr((status.get("account"), status.get("name"), status.get("source"), rows)).encode())


def panel(status: dict[str, Any]) -> Updates:
    """The rule rows, the source note and the banner."""
    rows = status.get("rules", [])
    waiting = status.get("account") is None
    banner_children, banner_style = banner(rows)
    return {
        ids.RULES_ROWS: {"children": "Waiting for account data…" if waiting else [rule_row(row) for row in rows]},
        ids.RULES_SOURCE: {
            "children": " · ".join(p for p in (status.get("name"), SOURCES.get(status.get("source", ""), "")) if p)
        },
        ids.ALERTS_BANNER: {"children": banner_children, "style": banner_style},
    }


def frame_updates(
    alerts: list[dict[str, Any]], status: dict[str, Any], recent: list[dict[str, Any]], state: dict[str, Any],
    now_ms: int,
) -> tuple[Updates, dict[str, Any]]:  # fmt: skip
    """The panel, banner, toasts and new alerts that ``alerts`` (just published) change, and the view's state.

    New alerts are those plus the engine's ``recent`` ones after the view's cursor (``seen_ms``): whatever a
    lost message carried is caught up with at the next one.
    """
    seen_ms = state.get("seen_ms", now_ms - TOAST_MS)
    by_id = {alert["id"]: alert for alert in [*recent, *alerts] if alert.get("ts", 0) > seen_ms}
    new = sorted(by_id.values(), key=lambda alert: alert["ts"])
    shown = [t for t in state.get("toasts", []) if now_ms - t["shown_ms"] < TOAST_MS]
    toasts = (shown + [{"alert": alert, "shown_ms": now_ms} for alert in new])[-MAX_TOASTS:]
    toasts_changed = toasts != state.get("toasts", [])
    redraw = bool(new) or now_ms - state.get("drawn_ms", 0) >= REDRAW_MS
    if not redraw and not toasts_changed and "seen_ms" in state:
        return {}, state
    updates: Updates = {}
    drawn_ms, drawn = state.get("drawn_ms", 0), state.get("drawn")
    if redraw:
        drawn_ms = now_ms
        digest = panel_digest(status)
        if digest != drawn:
            drawn = digest
            updates.update(panel(status))
    if toasts_changed:
        updates[ids.ALERTS_TOASTS] = {"children": [toast(t["alert"]) for t in toasts]}
    if new:
        updates[ids.ALERTS_NEW] = {"data": new}
    seen_ms = max([seen_ms, *(alert["ts"] for alert in new)])
    return updates, {"toasts": toasts, "drawn_ms": drawn_ms, "drawn": drawn, "seen_ms": seen_ms}


class AlertsView:
    """One view's panel and toasts. A collector's account is evaluated in its own process: its readings come
    from Redis, and no alert of the account this process evaluates is shown on its page."""

    def __init__(self, engine: AlertEngine, login: int | None) -> None:
        self.engine = engine
        self.login = login
        self.state: dict[str, Any] = {}

    def status(self) -> dict[str, Any]:
        try:
            return self.engine.live_status(self.login)
        except REDIS_ERRORS:
            return {"account": self.login, "rules": []}

    def changes(self, alerts: list[dict[str, Any]], now_ms: int) -> Updates:
        """What ``alerts`` and the time that passed change; the live status is read only when something may."""
        state = self.state
        recent = self.engine.recent(state.get("seen_ms", now_ms - TOAST_MS), self.login)
        expiring = any(now_ms - t["shown_ms"] >= TOAST_MS for t in state.get("toasts", []))
        if "seen_ms" in state and not (alerts or recent or expiring or now_ms - state["drawn_ms"] >= REDRAW_MS):
            return {}
        updates, self.state = frame_updates(alerts, self.status(), recent, state, now_ms)
        return updates

    def full(self) -> Updates:
        """The panel and the toasts on screen, for a page that joins (the view's state stays as it is)."""
        updates = panel(self.status())
        updates[ids.ALERTS_TOASTS] = {"children": [toast(t["alert"]) for t in self.state.get("toasts", [])]}
        return updates
