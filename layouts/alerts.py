"""The risk rules on the page: a panel with each rule's distance to its limit, an alert banner and toasts.

Pure functions returning components. The page's stylesheet is shared with other panels, so the few
styles only this panel needs (the bars, the banner, the toasts) are inline; the rows' layout, which changes with
the screen's width, is in ``assets/style.css``.
"""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from layouts import ids
from services.core.formatting import rule_amount

STATE_COLORS = {"ok": "var(--ok)", "warning": "var(--warn)", "breached": "var(--bad)"}
STATE_BADGES = {"ok": "badge badge-ok", "warning": "badge badge-warn", "breached": "badge badge-bad"}
HIDDEN = {"display": "none"}
BANNER = {"padding": "8px 12px", "borderRadius": "8px", "marginBottom": "12px", "fontSize": "14px", "fontWeight": 600}
TOASTS = {"position": "fixed", "right": "16px", "bottom": "16px", "zIndex": 1000, "display": "flex",
          "flexDirection": "column", "gap": "8px", "maxWidth": "380px"}  # fmt: skip
TOAST = {"padding": "10px 12px", "fontSize": "13px", "borderLeft": "4px solid", "background": "var(--card)"}
MUTED = {"color": "var(--muted)", "fontSize": "12px"}
EDITOR = {"width": "100%", "minHeight": "260px", "fontFamily": "ui-monospace, monospace", "fontSize": "12px",
          "background": "var(--card)", "color": "var(--text)", "border": "1px solid var(--border)"}  # fmt: skip


def duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def distance_text(row: dict[str, Any]) -> str:
    distance = row.get("distance")
    if distance is None:
        return row.get("detail") or "not active"
    if row["kind"] == "profit_target":
        return "target reached" if distance <= 0 else f"{rule_amount(distance, row['unit'])} to go"
    unit = row["unit"]
    return f"{rule_amount(distance, unit)} left" if distance >= 0 else f"over by {rule_amount(-distance, unit)}"


def bar(row: dict[str, Any]) -> html.Div:
    """How much of the room to the limit is used: full at the limit, with the warning level marked."""
    used = min(1.0, max(0.0, float(row.get("used") or 0.0)))
    color = "var(--accent)" if row["kind"] == "profit_target" else STATE_COLORS.get(row["state"], "var(--muted)")
    fill = {"width": f"{used * 100:.1f}%", "height": "100%", "borderRadius": "4px", "background": color}
    children = [html.Div(style={**fill, "transition": "width 0.3s"})]
    if row.get("warn") and row.get("limit") and row.get("value") is not None:
        below = row["kind"] in ("margin_level", "stop_out")
        ratio = min(1.0, row["limit"] / row["warn"] if below else row["warn"] / row["limit"])
        mark = {"position": "absolute", "left": f"{ratio * 100:.1f}%", "top": 0, "bottom": 0, "width": "2px"}
        children.append(html.Div(style={**mark, "background": "var(--warn)"}))
    track = {"position": "relative", "height": "8px", "borderRadius": "4px", "background": "var(--border)"}
    return html.Div(children, title=f"{used * 100:.0f}% of the limit used", style=track)


def state_badge(row: dict[str, Any]) -> html.Span:
    """A reached profit target is good news: green, and called "reached"."""
    if not row.get("enabled", True):
        return html.Span("off", className="badge badge-unknown")
    if row["kind"] == "profit_target" and row["state"] != "ok":
        return html.Span("reached" if row["state"] == "breached" else "near", className="badge badge-ok")
    return html.Span(row["state"], className=STATE_BADGES.get(row["state"], "badge badge-unknown"))


def rule_row(row: dict[str, Any]) -> html.Div:
    """One rule: name and state, live value, limit, the distance bar, and the daily reset countdown."""
    limit = html.Div([html.Div(f"limit {rule_amount(row.get('limit'), row['unit'])}"),
                      html.Div(f"warn {rule_amount(row.get('warn'), row['unit'])}", style=MUTED)])  # fmt: skip
    extra = []
    if row.get("floor") is not None:
        extra.append(html.Div(f"breach at equity {row['floor']:,.2f}", style=MUTED))
    if row.get("reset_in_s") is not None:
        extra.append(html.Div(f"resets in {duration(row['reset_in_s'])}", style=MUTED))
    return html.Div(
        className="rule-row",  # its columns fold in two on a phone (assets/style.css)
        children=[
            html.Div([html.Span(row["name"], style={"fontWeight": 600, "marginRight": "8px"}), state_badge(row)]),
            html.Div(rule_amount(row.get("value"), row["unit"]), style={"fontSize": "15px", "fontWeight": 600}),
            limit,
            html.Div([bar(row), html.Div(distance_text(row), style=MUTED)]),
            html.Div(extra or [html.Div(row.get("detail") or "", style=MUTED)]),
        ],
    )


def banner(rows: list[dict[str, Any]]) -> tuple[list[Any], dict[str, Any]]:
    """The rules now in breach (red) or warning (amber); hidden while every rule is ok. Targets are not risks."""
    active = [
        row for row in rows if row.get("enabled", True) and row["state"] != "ok" and row["kind"] != "profit_target"
    ]
    if not active:
        return [], HIDDEN
    worst = "breached" if any(row["state"] == "breached" for row in active) else "warning"
    texts = [f"{row['name']} {row['state']}: {rule_amount(row.get('value'), row['unit'])}" for row in active]
    color = STATE_COLORS[worst]
    style = {**BANNER, "color": color, "border": f"1px solid {color}",
             "background": f"color-mix(in srgb, {color} 12%, var(--card))"}  # fmt: skip
    return ["⚠ " + " · ".join(texts)], style


def toast(alert: dict[str, Any]) -> html.Div:
    good = alert.get("kind") == "profit_target" or alert.get("state") == "ok"
    color = "var(--ok)" if good else STATE_COLORS.get(alert.get("state", ""), "var(--muted)")
    return html.Div(alert.get("message", ""), className="card", style={**TOAST, "borderLeftColor": color})


def alert_banner() -> html.Div:
    """Place under the header: the banner, the toasts and the stores they need."""
    return html.Div(
        [
            dcc.Store(id=ids.ALERTS_NEW),
            dcc.Store(id=ids.ALERTS_NOTIFY, storage_type="local", data=False),
            html.Div(id=ids.ALERTS_BANNER, role="alert", style=HIDDEN),
            html.Div(id=ids.ALERTS_TOASTS, style=TOASTS, **{"aria-live": "polite"}),
        ]
    )


def rule_panel() -> html.Section:
    """The rules with their live distance to each limit, plus a YAML editor for the rules."""
    button = "theme-toggle"
    return html.Section(
        id=ids.RULES_PANEL,
        className="card panel",
        style={"marginBottom": "14px"},
        children=[
            html.Div(
                className="panel-head",
                children=[
                    html.H2("Risk rules"),
                    html.Span(id=ids.RULES_SOURCE, className="count"),
                    html.Span(style={"flex": 1}),
                    html.Button("Browser notifications: off", id=ids.ALERTS_NOTIFY_BUTTON, className=button),
                    html.Button("Edit rules", id=ids.RULES_EDIT, className=button),
                ],
            ),
            html.Div("Waiting for account data…", id=ids.RULES_ROWS, style=MUTED),
            html.Div(
                id=ids.RULES_EDITOR_WRAP,
                style=HIDDEN,
                children=[
                    html.Div("Rules as YAML (see rules/README.md). Saved rules win over RULES_FILE.", style=MUTED),
                    dcc.Textarea(id=ids.RULES_EDITOR, style=EDITOR, spellCheck=False),
                    html.Div(
                        style={"display": "flex", "gap": "8px", "alignItems": "center"},
                        children=[
                            html.Button("Save", id=ids.RULES_SAVE, className=button),
                            html.Button("Revert to the file's rules", id=ids.RULES_REVERT, className=button),
                            html.Span(id=ids.RULES_MESSAGE, style={"fontSize": "13px"}),
                        ],
                    ),
                ],
            ),
        ],
    )
