"""The overview page's live updates, rendered once per theme: the accounts table, the totals, today's P/L and the
combined equity (its figure once per page, then each minute appended as it ends).

A message is only the signal: the lines come from Redis in a few round trips (``Runtime.account_lines``),
so an account that stopped talking is shown as the monitor sees it, stale, with its last known figures.
One rendering per ``RENDER_EVERY_MS`` at most, however many accounts talk; a change that came in between
is drawn at the next tick of the fan-out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from layouts import ids
from layouts.figures import DEFAULT_THEME, TEMPLATES
from layouts.overview import (
    account_rows,
    bar_label,
    currency_table,
    equity_figure,
    equity_points,
    graph_style,
    pl_figure,
    pl_heights,
)
from services.core.protocol import ACCOUNT, ACCOUNTS, ERROR, STATUS, Message
from services.fleet.equity import SPAN_MS, Plan, combined_equity, grid, grid_end, plans
from services.fleet.overview import AccountLine, combined, currency_totals
from services.live.render import Render, Updates
from services.runtime import Runtime
from services.storage.redis_conn import REDIS_ERRORS

RENDER_EVERY_MS = 250
SIGNALS = (ACCOUNT, ACCOUNTS, ERROR, STATUS)  # what may change a line: figures, states, links


def summary_text(lines: list[AccountLine]) -> str:
    stale = sum(1 for line in lines if line.stale)
    text = f"{len(lines)} account{'s' if len(lines) != 1 else ''}"
    return text + (f" · {stale} stale" if stale else " · all live")


def banner_text(lines: list[AccountLine]) -> str:
    stale = [line.name or f"#{line.login}" for line in lines if line.stale]
    return f"No recent poll from: {', '.join(stale)}. Their figures are the last known." if stale else ""


def chart_layout(lines: list[AccountLine]) -> list[str]:
    """The bars' labels, as ``pl_figure`` draws them: while they stay, only the bars move."""
    return [bar_label(line) for line in lines]


def bar_update(lines: list[AccountLine]) -> list[Any]:
    """The bars' new heights as an ``extendData`` that replaces each trace's (each keeps its length)."""
    heights = pl_heights(lines)
    return [{"y": heights}, list(range(len(heights))), {"y": [len(lines) for _ in heights]}]


class OverviewRenderer:
    def __init__(self, runtime: Runtime, theme: str, clock: Callable[[], float] = time.time) -> None:
        self.rt = runtime
        self.theme = theme
        self.clock = clock
        self.layout: list[str] | None = None  # the chart's bars as its pages have them
        self.equity_plans: list[Plan] | None = None  # the combined equity's curves as its pages have them
        self.equity_end: int | None = None  # and the last minute they hold
        self.dirty = False
        self.drawn_ms = 0

    def event(self, message: Message) -> Render | None:
        self.dirty = self.dirty or message.kind in SIGNALS
        return self.tick()

    def tick(self) -> Render | None:
        """Also when nothing was said: a new minute moves the combined equity on, even of quiet accounts."""
        now = int(self.clock() * 1000)
        minute_due = self.equity_end is not None and grid_end(now) > self.equity_end
        if not (self.dirty or minute_due) or now - self.drawn_ms < RENDER_EVERY_MS:
            return None
        self.dirty, self.drawn_ms = False, now
        return Render(set=self.updates(whole=False))

    def full(self, reload: bool) -> Render:
        return Render(set=self.updates(whole=True), full=True, reload=reload)

    def updates(self, whole: bool) -> Updates:
        """The page as the lines now are; ``whole``: for one page that joins (the chart drawn afresh)."""
        try:
            lines = self.rt.account_lines()
        except REDIS_ERRORS as exc:
            banner = f"Redis is unavailable ({type(exc).__name__}); showing the last figures, retrying."
            return {ids.OVERVIEW_BANNER: {"children": banner}}
        settings = self.rt.settings
        totals = currency_totals(lines, dict(settings.fx_rates))
        layout = chart_layout(lines)
        if whole or layout != self.layout:
            chart = {"figure": pl_figure(lines, self.theme)}
        else:
            chart = {"extendData": bar_update(lines)}
        # A page that joins has the bars as they are now; the others get them whole at the next change if not.
        self.layout = None if whole and layout != self.layout else layout
        updates: Updates = {
            ids.OVERVIEW_TABLE: {"children": account_rows(lines)},
            ids.OVERVIEW_CURRENCIES: {"children": currency_table(totals, combined(totals, settings.report_currency))},
            ids.OVERVIEW_SUMMARY: {"children": summary_text(lines)},
            ids.OVERVIEW_BANNER: {"children": banner_text(lines)},
            ids.OVERVIEW_CHART: chart,
        }
        try:
            equity = self.equity(lines, whole, int(self.clock() * 1000))
        except REDIS_ERRORS:
            equity = None  # the curve waits for Redis; the next render catches up
        if equity is not None:
            updates[ids.OVERVIEW_EQUITY] = equity
        return updates

    def equity(self, lines: list[AccountLine], whole: bool, now_ms: int) -> dict[str, Any] | None:
        """The combined equity whole (a page that joins, other curves, or a gap of a day), else the minutes
        that ended since the pages' last one as an append, else nothing."""
        settings = self.rt.settings
        wanted = plans(lines, settings.report_currency, dict(settings.fx_rates))
        due, held = grid_end(now_ms), self.equity_end
        same = wanted == self.equity_plans and held is not None
        if whole or not same or due - held >= SPAN_MS:
            end = held if whole and same else due  # a page that joins gets what the others hold, no more
            figure = equity_figure(combined_equity(self.rt.store, wanted, grid(end - SPAN_MS, end)), self.theme)
            if not whole:
                self.equity_plans, self.equity_end = wanted, end
            elif not same:
                self.equity_plans = None  # the others get theirs whole at the next render
            return {"figure": figure, "style": graph_style(figure)}
        if due <= held:
            return None
        appended = equity_points(combined_equity(self.rt.store, wanted, grid(held, due)))
        self.equity_end = due  # only once read: a Redis error leaves the minutes for the next render
        return {"extendData": appended}


class OverviewViewer:
    """One overview page: its theme is its view."""

    login = None

    def __init__(self, runtime: Runtime, theme: str) -> None:
        self.runtime = runtime
        self.theme = theme

    def key(self) -> str:
        return self.theme

    def renderer(self) -> OverviewRenderer:
        return OverviewRenderer(self.runtime, self.theme)

    def change(self, view: dict[str, Any]) -> str | None:
        theme = view.get(ids.THEME)
        if theme in TEMPLATES and theme != self.theme:
            self.theme = theme
            return "key"
        return None

    def own(self, points: list[Any]) -> tuple[Updates, Updates, Any]:
        return {}, {}, None


class OverviewKind:
    """``?view=overview``: every account side by side, in ``?theme=``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def viewer(self, login: int | None, args: Mapping[str, str]) -> OverviewViewer:
        theme = args.get("theme")
        return OverviewViewer(self.runtime, theme if theme in TEMPLATES else DEFAULT_THEME)
