"""The rule editor and browser notifications. The risk panel, banner and toasts come rendered with the page's
live updates (``views/alerts.py``); a new alert also lands in ``ids.ALERTS_NEW``, which notifies."""

from __future__ import annotations

from typing import Any

from dash import ClientsideFunction, Dash, Input, Output, State, ctx, no_update

from layouts import ids
from layouts.alerts import HIDDEN
from services.risk.rules import RuleError, parse_rules_text
from services.risk.wiring import RiskEngine
from services.runtime import Runtime
from services.storage.archive import ArchiveUnavailable
from services.storage.redis_conn import REDIS_ERRORS
from views.alerts import SOURCES

EDITOR_SHOWN = {"display": "block", "marginTop": "10px"}


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
