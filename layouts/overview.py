"""The overview page: every account side by side, the combined equity, totals per currency, today's P/L."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html
from dash_extensions import WebSocket
from plotly.subplots import make_subplots

from layouts import ids
from layouts.analytics import GRAPH_CONFIG
from layouts.figures import DEFAULT_THEME, EQUITY_COLOR, sign_color, template
from services.core.formatting import TRADE_MODES, margin_level, money
from services.core.protocol import PROTOCOL_VERSION
from services.fleet.equity import POINTS, CombinedEquity
from services.fleet.overview import AccountLine, Combined, CurrencyTotal


def graph_style(figure: go.Figure) -> dict[str, str]:
    """The graph as tall as its figure: a responsive graph takes its height from its box, and a box in a grid
    row with nothing else to size it collapsed the chart to a sliver after a redraw."""
    return {"height": f"{figure.layout.height}px"}


COLUMNS = ("Account", "Link", "Balance", "Equity", "Floating P/L", "Margin level", "Today's P/L", "Positions")


def layout() -> html.Div:
    return html.Div(
        id=ids.PAGE,
        className="page overview",
        children=[
            WebSocket(id=ids.OVERVIEW_WS),
            dcc.Store(id=ids.THEME, storage_type="local", data=DEFAULT_THEME),
            dcc.Store(id=ids.PROTOCOL, data=PROTOCOL_VERSION),
            html.Header(
                className="header",
                children=[
                    html.Div(
                        className="identity",
                        children=[
                            html.H1("All accounts"),
                            html.Div("Connecting to the live stream…", id=ids.OVERVIEW_SUMMARY, className="details"),
                        ],
                    ),
                    html.Div(
                        className="header-right",
                        children=[
                            html.Span("Live: connecting…", id=ids.link_badge("live"), className="badge badge-warn"),
                            html.Button("Dark theme", id=ids.THEME_TOGGLE, className="theme-toggle", n_clicks=0),
                        ],
                    ),
                    html.Div(id=ids.OVERVIEW_BANNER, className="stale-banner", role="status"),
                ],
            ),
            html.Section(
                className="card overview-card",
                children=[
                    html.Table(
                        className="overview-table",
                        children=[
                            html.Thead(html.Tr([html.Th(name) for name in COLUMNS])),
                            html.Tbody(id=ids.OVERVIEW_TABLE),
                        ],
                    )
                ],
            ),
            html.Section(
                className="card overview-card",
                children=[
                    dcc.Graph(
                        id=ids.OVERVIEW_EQUITY,
                        figure=(empty := equity_figure(CombinedEquity([], []), None)),
                        style=graph_style(empty),
                        config=GRAPH_CONFIG,
                    )
                ],
            ),
            html.Div(
                className="overview-lower",
                children=[
                    html.Section(
                        className="card overview-card",
                        children=[html.H2("Totals per currency"), html.Div(id=ids.OVERVIEW_CURRENCIES)],
                    ),
                    html.Section(
                        className="card overview-card",
                        children=[
                            dcc.Graph(
                                id=ids.OVERVIEW_CHART,
                                figure=pl_figure([], None),
                                style=graph_style(pl_figure([], None)),
                                config=GRAPH_CONFIG,
                            )
                        ],
                    ),
                ],
            ),
        ],
    )


def _signed_class(value: float | None) -> str:
    if value is None or value == 0:
        return "num"
    return "num pos" if value > 0 else "num neg"


def _amount(value: float | None, line: AccountLine, signed: bool = False) -> str:
    return "—" if value is None else money(value, line.currency or "", line.digits, signed=signed)


def _link_text(line: AccountLine) -> str:
    if line.last_poll_ms is None:
        return "no poll yet"
    lag = f"{line.lag_ms / 1000:.1f} s ago" if line.lag_ms is not None else ""
    if line.stale:
        return f"stale, last poll {lag}"
    if line.state != "live":
        return f"MT5 {line.state}" + (f": {line.mt5_error}" if line.mt5_error else "")
    return "live"


def account_rows(lines: Sequence[AccountLine]) -> list[html.Tr]:
    """One row per account; a stale one is marked, never hidden (its last known figures stay)."""
    rows = []
    for line in lines:
        label = f"{line.name} · #{line.login}" if line.name else f"#{line.login}"
        mode = TRADE_MODES.get(line.trade_mode if line.trade_mode is not None else -1, "").lower()
        state_class = "ok" if line.state == "live" else ("warn" if line.stale else "bad")
        level = (
            "—" if line.margin_level is None or line.margin is None else margin_level(line.margin_level, line.margin)
        )
        rows.append(
            html.Tr(
                id=ids.overview_row(line.login),
                className="overview-row stale" if line.stale else "overview-row",
                children=[
                    html.Td(
                        [
                            html.A(label, href=f"/a/{line.login}", className="account-link"),
                            html.Div(
                                " · ".join(x for x in (line.server, line.currency, mode) if x), className="muted small"
                            ),
                        ]
                    ),
                    html.Td(html.Span(_link_text(line), className=f"badge badge-{state_class}"), className="link-cell"),
                    html.Td(_amount(line.balance, line), className="num"),
                    html.Td(_amount(line.equity, line), className="num"),
                    html.Td(_amount(line.profit, line, signed=True), className=_signed_class(line.profit)),
                    html.Td(level, className="num"),
                    html.Td(_amount(line.today, line, signed=True), className=_signed_class(line.today)),
                    html.Td(str(line.positions), className="num"),
                ],
            )
        )
    if not rows:
        rows.append(html.Tr(html.Td("No account has reported to this Redis yet.", colSpan=len(COLUMNS))))
    return rows


def currency_table(totals: Sequence[CurrencyTotal], total: Combined | None) -> html.Div:
    """Totals within each currency; a grand total only in the report currency, at the user's rates."""

    def cell(value: float | None, currency: str, signed: bool = False) -> html.Td:
        text = "—" if value is None else money(value, currency, 2, signed=signed)
        return html.Td(text, className=_signed_class(value) if signed else "num")

    head = html.Tr([html.Th(h) for h in ("Currency", "Accounts", "Balance", "Equity", "Floating P/L", "Today's P/L")])
    body = [
        html.Tr(
            id=f"overview-currency-{t.currency}",
            children=[
                html.Td(t.currency),
                html.Td(f"{t.accounts}" + (f" ({t.stale} stale)" if t.stale else ""), className="num"),
                cell(t.balance, t.currency),
                cell(t.equity, t.currency),
                cell(t.profit, t.currency, signed=True),
                cell(t.today, t.currency, signed=True),
            ],
        )
        for t in totals
    ]
    notes = []
    if total is not None:
        body.append(
            html.Tr(
                id="overview-combined",
                className="combined",
                children=[
                    html.Td(f"All in {total.currency}"),
                    html.Td(", ".join(total.included) or "—", className="num"),
                    cell(total.balance, total.currency),
                    cell(total.equity, total.currency),
                    cell(total.profit, total.currency, signed=True),
                    cell(total.today, total.currency, signed=True),
                ],
            )
        )
        rates = [f"{t.currency} {t.rate:g}" for t in totals if t.rate is not None and t.currency in total.included]
        if rates:
            notes.append(f"Converted at your rates (FX_RATES, one unit in {total.currency}): {', '.join(rates)}. ")
        if total.missing:
            notes.append(f"Not in the {total.currency} total (no rate in FX_RATES): {', '.join(total.missing)}.")
    elif len(totals) > 1:
        notes.append("Currencies are not added together: set REPORT_CURRENCY and FX_RATES for a combined total.")
    return html.Div(
        [html.Table([html.Thead(head), html.Tbody(body)], className="overview-table"), html.P(notes, className="muted")]
    )


def bar_label(line: AccountLine) -> str:
    """An account under its bar, with its currency: the bars stand side by side, never added up."""
    return f"{line.name or f'#{line.login}'} ({line.currency or '?'})"


SIGNS = ("gain", "loss")  # the bars' traces, in order: one colour each, so an update only moves heights


def pl_heights(lines: Sequence[AccountLine]) -> list[list[float | None]]:
    """Each account's today on the trace of its sign (None on the other, and on both when flat or unknown)."""
    return [
        [line.today if line.today and (line.today > 0) == (sign == "gain") else None for line in lines]
        for sign in SIGNS
    ]


def pl_figure(lines: Sequence[AccountLine], theme: str | None) -> go.Figure:
    """Today's P/L per account: a profit green, a loss red (a trace per sign, stacked so each account has one
    bar); each bar named with its account's currency, the amount on it."""
    figure = go.Figure(layout={"template": template(theme)})
    labels = [bar_label(line) for line in lines]
    for sign, heights in zip(SIGNS, pl_heights(lines), strict=True):
        figure.add_bar(
            name="Profit" if sign == "gain" else "Loss",
            x=labels,
            y=heights,
            marker={"color": sign_color(1 if sign == "gain" else -1, theme)},
            texttemplate="%{y:+,.2f}",
            textposition="auto",
            hovertemplate="%{x}<br>Today: %{y:+,.2f}<extra></extra>",
        )
    figure.update_layout(
        title={"text": "Today's P/L by account (account currency)", "font": {"size": 14}},
        height=300,
        margin={"l": 50, "r": 10, "t": 40, "b": 40},
        showlegend=False,
        barmode="relative",
        uirevision="overview",
    )
    figure.update_yaxes(title_text="Today's P/L (account currency)", zeroline=True)
    return figure


EQUITY_TITLE = "Combined equity, last 24 h (UTC)"
EQUITY_ROW_PX, EQUITY_FRAME_PX = 200, 90  # each curve's own panel, and the title and axis around them


def equity_figure(curves: CombinedEquity, theme: str | None) -> go.Figure:
    """One panel per curve (a currency, or all in the report currency), one time axis: a y axis never mixes
    currencies. Live appends extend each trace (``equity_points``), so the trace order is the curves' order."""
    rows = max(1, len(curves.curves))
    figure = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08 if rows > 1 else 0.0,
        subplot_titles=[curve.plan.label for curve in curves.curves] or None,
    )
    for row, curve in enumerate(curves.curves, start=1):
        figure.add_scatter(
            x=curves.times,
            y=curve.equity,
            mode="lines",
            name=curve.plan.label,
            line={"color": EQUITY_COLOR, "width": 1.5},
            connectgaps=False,
            hovertemplate=f"%{{x|%Y-%m-%d %H:%M}} UTC<br>%{{y:,.2f}} {curve.plan.currency}<extra></extra>",
            row=row,
            col=1,
        )
        figure.update_yaxes(title_text=f"Equity ({curve.plan.currency})", tickformat=",.0f", row=row, col=1)
    figure.update_xaxes(type="date")
    figure.update_layout(
        template=template(theme),
        title={"text": EQUITY_TITLE, "font": {"size": 14}},
        height=EQUITY_FRAME_PX + EQUITY_ROW_PX * rows,
        margin={"l": 70, "r": 10, "t": 60, "b": 30},
        showlegend=False,
        uirevision="overview-equity",
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    if not curves.curves:
        figure.add_annotation(text="No account history yet", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return figure


def equity_points(curves: CombinedEquity) -> list[Any]:
    """New minutes as an ``extendData`` on every curve, the oldest dropped so each keeps a day."""
    traces = list(range(len(curves.curves)))
    return [
        {"x": [curves.times for _ in traces], "y": [curve.equity for curve in curves.curves]},
        traces,
        {"x": [POINTS for _ in traces], "y": [POINTS for _ in traces]},
    ]
